from services.reencoder.main import main

main()
