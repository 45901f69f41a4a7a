package chdb

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one numbered schema change: a single SQL statement in which
// {db} stands for the database name. Every statement is written to be
// harmless when run twice (IF NOT EXISTS), so a crash between a statement and
// its record in schema_migrations is safe.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	out := make([]Migration, 0, len(names))
	for _, path := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(path, "migrations/"), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", path)
		}
		b, err := migrationFiles.ReadFile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %d: version used twice", out[i].Version)
		}
	}
	return out, nil
}

// Migrate applies the migrations not yet recorded in {db}.schema_migrations.
// It returns the versions it applied.
func (db *DB) Migrate(ctx context.Context) ([]int, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	bootstrap := []string{
		"CREATE DATABASE IF NOT EXISTS `" + db.Name + "`",
		"CREATE TABLE IF NOT EXISTS " + db.Table("schema_migrations") + ` (
			version UInt32, name String, applied_at DateTime
		) ENGINE = MergeTree() ORDER BY version`,
	}
	for _, q := range bootstrap {
		if err := db.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("migrate bootstrap: %w", err)
		}
	}
	done := map[int]bool{}
	rows, err := db.Query(ctx, "SELECT version FROM "+db.Table("schema_migrations"))
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		done[int(v)] = true
	}
	rows.Close()
	var applied []int
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		q := strings.ReplaceAll(m.SQL, "{db}", "`"+db.Name+"`")
		if err := db.Exec(ctx, q); err != nil {
			return applied, fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
		batch, err := db.PrepareBatch(ctx, "INSERT INTO "+db.Table("schema_migrations")+" (version, name, applied_at)")
		if err != nil {
			return applied, fmt.Errorf("record migration %d: %w", m.Version, err)
		}
		if err := batch.Append(uint32(m.Version), m.Name, time.Now()); err != nil {
			return applied, fmt.Errorf("record migration %d: %w", m.Version, err)
		}
		if err := batch.Send(); err != nil {
			return applied, fmt.Errorf("record migration %d: %w", m.Version, err)
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}
