"""The core: pages (the tenants), API keys, and the API framework every app builds on."""
