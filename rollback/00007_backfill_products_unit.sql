UPDATE products SET unit = NULL WHERE unit IS NOT NULL;
