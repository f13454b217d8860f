-- Migrate: fill products.unit from the legacy code while old and new code both run.
UPDATE products
SET unit = CASE WHEN legacy_code LIKE 'ERP;%' THEN 'each' ELSE 'unknown' END
WHERE unit IS NULL;
