package threadmap

import "context"

// SQLiteChanges is SQLite's changes() on the write connection: the rows
// changed by the last statement this process wrote with.
func SQLiteChanges(ctx context.Context, s *SQLiteStore) (int, error) {
	var n int
	err := s.write.QueryRowContext(ctx, `SELECT changes()`).Scan(&n)
	return n, err
}
