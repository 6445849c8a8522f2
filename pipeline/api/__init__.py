"""The authenticated HTTP query API and the dashboard (`restguard api serve`)."""
