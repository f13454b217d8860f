-- Migrate: fill products.unit from the legacy code while old and new code both run.
-- Runs in batches of products.id (see the manifest); sqlmig binds each range's first and
-- last id to :batch_start and :batch_end.
UPDATE products
SET unit = CASE WHEN legacy_code LIKE 'ERP;%' THEN 'each' ELSE 'unknown' END
WHERE unit IS NULL
  AND id BETWEEN :batch_start AND :batch_end;
