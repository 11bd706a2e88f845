"""wa-session: WhatsApp logins hosted by a Node bridge running Baileys, supervised from Python."""
