-- Guests (interpreters, family members who came by an invite link) have no account, so their
-- chat lines cannot name a user: they name the guest (`guest:<invite id>`) here instead, and
-- `sender_id` stays empty. Before this, a guest's line broke the foreign key and was lost.
ALTER TABLE chat_messages ADD COLUMN guest_id TEXT;
