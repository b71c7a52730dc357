-- Signed bundles: the audit history records the key that signed an imported bundle (a
-- trusted key whose signature verified) or the key(s) an export was signed with.
-- Independent of every other migration, so it may run before or after 0002.

ALTER TABLE audit_log ADD COLUMN signer_key_id TEXT;
