from services.webhooks.main import main

main()
