"""Services of the payouts room: every write goes through one of these (DESIGN.md habit 2)."""
