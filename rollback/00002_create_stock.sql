DROP TABLE stock_movements;
DROP TABLE stock_levels;
