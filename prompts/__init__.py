"""Every word Heedful shows a person, as TOML data (loaded by ``bot.messages.prompts``)."""
