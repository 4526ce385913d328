from services.dblogs.main import main

main()
