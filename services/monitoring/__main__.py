from services.monitoring.main import main

main()
