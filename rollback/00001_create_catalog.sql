DROP TABLE warehouses;
DROP TABLE products;
