-- A conversation the bot joined in someone else's thread (a mention in its
-- replies) is continued only by messages that mention the bot.
ALTER TABLE conversations ADD COLUMN mentions_only BOOLEAN NOT NULL DEFAULT FALSE;
