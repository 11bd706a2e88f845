"""The activation service: installs the application in YClients for every salon of a connection."""
