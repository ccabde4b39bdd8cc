"""notifications: built in later issues; see ../shared/DESIGN.md for what this room will hold."""
