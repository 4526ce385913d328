from services.frontend.main import main

main()
