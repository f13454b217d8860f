-- Products and warehouses: the catalogue every stock movement refers to.
CREATE TABLE products (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    legacy_code text,                 -- from the old ERP; removed by 00008
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE warehouses (
    id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code text NOT NULL UNIQUE CHECK (code ~ '^[A-Z]{3}[0-9]$'),
    name text NOT NULL
);

INSERT INTO warehouses (code, name) VALUES ('LON1', 'London'), ('BER1', 'Berlin');

INSERT INTO products (sku, name, legacy_code)
SELECT 'SKU-' || lpad(n::text, 5, '0'), 'Product ' || n, 'ERP;' || n   -- a semicolon inside a string
FROM generate_series(1, 500) AS n;
