-- Expand: a nullable column, no default, so no rewrite and only a brief lock.
ALTER TABLE products ADD COLUMN unit text;
