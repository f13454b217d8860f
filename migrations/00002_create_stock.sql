-- Stock on hand per product and warehouse, and the movements that change it.
CREATE TABLE stock_levels (
    product_id   bigint  NOT NULL REFERENCES products (id),
    warehouse_id integer NOT NULL REFERENCES warehouses (id),
    quantity     integer NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, warehouse_id)
);

CREATE TABLE stock_movements (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id   bigint  NOT NULL REFERENCES products (id),
    warehouse_id integer NOT NULL REFERENCES warehouses (id),
    delta        integer NOT NULL CHECK (delta <> 0),
    reason       text    NOT NULL DEFAULT 'adjustment',
    created_at   timestamptz NOT NULL DEFAULT now()
);
