package chdb

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
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
//
// With a cluster (Config.Cluster), it applies them on every replica that
// Hosts names, one connection to each, in the replicated form of each
// engine (see Replicated); every replica keeps its own schema_migrations
// (a plain MergeTree), so a replica added later, or one that was down, is
// brought up to date by the next Migrate. A replica that cannot be reached
// is skipped with a warning in the error's place: Migrate fails only when
// none could be migrated, so a projector restarted while one replica is
// down still starts; it returns the versions applied on the first one.
func (db *DB) Migrate(ctx context.Context) ([]int, error) {
	if db.Cluster == "" {
		return db.migrate(ctx)
	}
	var (
		first  []int
		done   int
		failed []error
	)
	for _, h := range db.Hosts() {
		r, err := db.OpenHost(ctx, h)
		if err != nil {
			failed = append(failed, err)
			continue
		}
		applied, err := r.migrate(ctx)
		r.Close()
		if err != nil {
			return applied, fmt.Errorf("migrate replica %s: %w", h, err)
		}
		if done == 0 {
			first = applied
		}
		done++
	}
	if done == 0 {
		return nil, fmt.Errorf("migrate cluster %s: no replica reachable: %w", db.Cluster, errors.Join(failed...))
	}
	return first, nil
}

// migrate applies the migrations on the one server db is connected to.
func (db *DB) migrate(ctx context.Context) ([]int, error) {
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
		q := m.SQL
		if db.Cluster != "" {
			if q, err = Replicated(q, db.Name); err != nil {
				return applied, fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
			}
		}
		q = strings.ReplaceAll(q, "{db}", "`"+db.Name+"`")
		if err := db.execSettled(ctx, q); err != nil { // 0018 truncates a table just created
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

// createTable and engine find the table and the engine of a migration.
var (
	createTable = regexp.MustCompile(`CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)`)
	engine      = regexp.MustCompile(`ENGINE = (\w*)MergeTree\(`)
	comment     = regexp.MustCompile(`\s+COMMENT '(?:[^'\\]|\\.|'')*'`)
)

// ZooKeeperPath returns where a replicated table of database db keeps its
// metadata in ZooKeeper: /clickhouse/tables/{shard}/<db>/<table>, the
// {shard} macro left for each server to fill in.
func ZooKeeperPath(db, table string) string {
	return "/clickhouse/tables/{shard}/" + db + "/" + table
}

// Replicated rewrites a migration for a cluster: the MergeTree engine of a
// CREATE TABLE becomes its Replicated form (MergeTree() becomes
// ReplicatedMergeTree('<ZooKeeperPath>', '{replica}'), SummingMergeTree(cols)
// ReplicatedSummingMergeTree('<path>', '{replica}', cols), likewise every
// *MergeTree), in the syntax that 18.16 and current releases share. Other
// statements (views) are returned as they are: each replica has its own.
//
// Column comments are dropped: ClickHouse 18.16 refuses a replicated table
// whose columns have comments ("Table structure in ZooKeeper is too
// different from local table structure", code 122, on the replica that
// created it). The comments are in the migration files and docs/analysts.md.
func Replicated(stmt, db string) (string, error) {
	stmt = comment.ReplaceAllString(stmt, "")
	loc := engine.FindStringSubmatchIndex(stmt)
	if loc == nil {
		if strings.Contains(stmt, "CREATE TABLE") {
			return "", errors.New("replicated: a CREATE TABLE without a *MergeTree engine")
		}
		return stmt, nil
	}
	t := createTable.FindStringSubmatch(stmt)
	if t == nil {
		return "", errors.New("replicated: an engine outside CREATE TABLE IF NOT EXISTS {db}.<table>")
	}
	open := loc[1] // just past "("
	depth, end := 1, -1
	for i := open; i < len(stmt) && end < 0; i++ {
		switch stmt[i] {
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				end = i
			}
		}
	}
	if end < 0 {
		return "", fmt.Errorf("replicated: table %s: unbalanced engine arguments", t[1])
	}
	args := "'" + ZooKeeperPath(db, t[1]) + "', '{replica}'"
	if a := strings.TrimSpace(stmt[open:end]); a != "" {
		args += ", " + a
	}
	kind := stmt[loc[2]:loc[3]]
	return stmt[:loc[0]] + "ENGINE = Replicated" + kind + "MergeTree(" + args + ")" + stmt[end+1:], nil
}
