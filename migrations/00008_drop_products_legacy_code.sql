-- Contract: nothing reads legacy_code any more. Its data is gone for good after this.
ALTER TABLE products DROP COLUMN legacy_code;
