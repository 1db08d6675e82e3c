-- The URL trackers store and delete at, when it is not the one browsers
-- use (server_url): a node behind an HTTPS proxy for browsers is reached
-- over plain HTTP on the inside. Empty: server_url serves both.

ALTER TABLE servers ADD COLUMN internal_url TEXT NOT NULL DEFAULT '';
