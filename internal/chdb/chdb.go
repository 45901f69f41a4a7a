// Package chdb opens ClickHouse connections for cds and owns its schema and
// every statement against its tables: the numbered migrations that create
// database cds, the commit-marker layout (marker.go), and one typed method
// per statement, grouped by table or concern: events.go (cds.events),
// rollup.go (cells of cds.rollup), drill.go (the drill-down over
// cds.events), recovery.go (the projector's recovery and rewind),
// foldindex.go, history.go (the score history), reference.go (catalogue and
// registry), status.go (cds cluster status). Values are bound as parameters; the few that cannot be are
// written by Literal, which quotes by type. Table names are fixed in the
// code and the database name is checked where it enters (Open).
// The exception: the running projector's lookups in cds.fold_index by hash
// stay in projector/index.go for now.
//
// The SQL runs on ClickHouse 18.16 (Debian's package) and on current releases:
// native protocol only, no LowCardinality, no DateTime64, no TTL.
package chdb

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultDatabase is the database of the contract (docs/design.md, "Names, ports and commands").
const DefaultDatabase = "cds"

// Config says how to reach ClickHouse.
type Config struct {
	// Addr is a native-protocol host:port (default 127.0.0.1:9000), or a
	// clickhouse-go DSN: clickhouse://user:password@host:port[,host:port]/database?secure=true
	// (secure=true speaks TLS; skip_verify=true accepts any certificate).
	// The DSN's user, password and database are used unless the fields
	// below are set.
	Addr     string
	Database string // default: the DSN's, else cds
	User     string // default: the DSN's, else "default"
	// Password, when set, wins over the DSN's (CDS_CLICKHOUSE_PASSWORD, so
	// that it need not appear in a command line).
	Password string
	// CAFile, when set, is a PEM file of the certificate authorities that
	// sign the server's certificate; it implies TLS.
	CAFile string
	// Cluster names the ClickHouse cluster whose replicas Addr lists
	// (a DSN with several hosts): Migrate creates the replicated engines on
	// every one of them, and the projector's commits wait for a quorum
	// (docs/projector.md, "Replicated ClickHouse"). Empty: one server, plain MergeTree engines.
	Cluster     string
	DialTimeout time.Duration // default 5s
	ReadTimeout time.Duration // default 5m: the longest insert or mutation wait
	MaxConns    int           // default 8
}

// options turns cfg into clickhouse-go options. Its errors never show the
// password.
func (c Config) options() (*clickhouse.Options, error) {
	opts := &clickhouse.Options{Addr: []string{c.Addr}}
	if isDSN(c.Addr) {
		var err error
		if opts, err = clickhouse.ParseDSN(c.Addr); err != nil {
			// The driver's error may quote the DSN: name it masked only.
			return nil, fmt.Errorf("clickhouse address %s: not a valid DSN (clickhouse://user:password@host:port[,host:port]/database?secure=true)", Redact(c.Addr))
		}
		if len(opts.Addr) == 0 {
			return nil, fmt.Errorf("clickhouse address %s: no host", Redact(c.Addr))
		}
	}
	if c.Addr == "" {
		opts.Addr = []string{"127.0.0.1:9000"}
	}
	if c.User != "" {
		opts.Auth.Username = c.User
	}
	if opts.Auth.Username == "" {
		opts.Auth.Username = "default"
	}
	if c.Password != "" {
		opts.Auth.Password = c.Password
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("clickhouse CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("clickhouse CA file %s: no PEM certificate", c.CAFile)
		}
		if opts.TLS == nil {
			opts.TLS = &tls.Config{}
		}
		opts.TLS.RootCAs = pool
	}
	return opts, nil
}

func (c Config) withDefaults() (Config, *clickhouse.Options, error) {
	opts, err := c.options()
	if err != nil {
		return c, nil, err
	}
	if c.Database == "" {
		c.Database = opts.Auth.Database
	}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if !ValidDatabase(c.Database) {
		return c, nil, fmt.Errorf("chdb: database %q: expected 1 to 64 letters, digits and underscores, not starting with a digit (the name is written into SQL as an identifier)", c.Database)
	}
	c.User = opts.Auth.Username
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 5 * time.Minute
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	// The session's database is "system", which every server has (the cds
	// database may not exist yet: Migrate creates it) and every user may
	// read; cds qualifies its tables (DB.Table).
	opts.Auth.Database = "system"
	opts.Protocol = clickhouse.Native
	opts.DialTimeout, opts.ReadTimeout = c.DialTimeout, c.ReadTimeout
	opts.MaxOpenConns, opts.MaxIdleConns, opts.ConnMaxLifetime = c.MaxConns, c.MaxConns, time.Hour
	return c, opts, nil
}

func isDSN(addr string) bool { return strings.Contains(addr, "://") }

// dsnPassword matches the password of a URL's user info, and a password
// query parameter.
var (
	dsnUserPassword = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*:)[^/?#]*@`)
	dsnPasswordArg  = regexp.MustCompile(`([?&]password=)[^&]*`)
)

// Redact returns addr with any password replaced by "***", for logs and
// error messages: a bare host:port is returned as is.
func Redact(addr string) string {
	addr = dsnUserPassword.ReplaceAllString(addr, "${1}***@")
	return dsnPasswordArg.ReplaceAllString(addr, "${1}***")
}

// DB is a ClickHouse connection bound to the cds database.
type DB struct {
	driver.Conn
	// Name is the database name, to qualify tables in SQL.
	Name string
	// Addr is the address connected to, with any password masked.
	Addr string
	// User is the ClickHouse user.
	User string
	// Cluster is Config.Cluster: "" for one server.
	Cluster string

	opts *clickhouse.Options // to connect to one host of the DSN (OpenHost)
	// quorumParallel: the server knows insert_quorum_parallel (WriteContext).
	quorumParallel bool
	quorum         int // Quorum: a majority of the DSN's hosts, 0 for one server
}

// authCodes are ClickHouse's error codes for a refused login: unknown user
// (192), wrong password (193, 18.16), password required (194), IP not
// allowed (195), authentication failed (516, later releases).
var authCodes = []int32{192, 193, 194, 195, 516}

// ErrAuth is matched (errors.Is) by Open's error when ClickHouse refused
// the user or its password.
var ErrAuth = errors.New("chdb: authentication failed")

// Open connects over the native protocol and pings. It does not require the
// database to exist yet (Migrate creates it). Its errors name the address
// with the password masked, and say when authentication failed.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	cfg, opts, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	addr := Redact(cfg.Addr)
	if addr == "" {
		addr = strings.Join(opts.Addr, ",")
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		var ex *clickhouse.Exception
		if errors.As(err, &ex) && slices.Contains(authCodes, ex.Code) {
			return nil, fmt.Errorf("clickhouse %s: %w for user %q: %s", addr, ErrAuth, cfg.User, ex.Message)
		}
		return nil, fmt.Errorf("ping clickhouse %s as %q: %w", addr, cfg.User, err)
	}
	db := &DB{Conn: conn, Name: cfg.Database, Addr: addr, User: cfg.User, Cluster: cfg.Cluster, opts: opts}
	if db.Cluster != "" {
		db.quorum = len(opts.Addr)/2 + 1
		if err := db.detectQuorumParallel(ctx); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return db, nil
}

// Hosts returns the native addresses (host:port) the configuration names:
// the replicas of a cluster, in the DSN's order.
func (db *DB) Hosts() []string { return slices.Clone(db.opts.Addr) }

// OpenHost connects to host alone (one of Hosts), with db's user, password,
// TLS and timeouts, and pings it; the caller closes it. It serves what must
// be done on every replica: DDL, and looking at each one's running queries
// and mutations.
func (db *DB) OpenHost(ctx context.Context, host string) (*DB, error) {
	opts := *db.opts
	opts.Addr = []string{host}
	opts.MaxOpenConns, opts.MaxIdleConns = 2, 2
	conn, err := clickhouse.Open(&opts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse replica %s: %w", host, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ping clickhouse replica %s: %w", host, err)
	}
	return &DB{Conn: conn, Name: db.Name, Addr: host, User: db.User, Cluster: db.Cluster, opts: &opts, quorumParallel: db.quorumParallel, quorum: db.quorum}, nil
}

// Version returns the server's version, e.g. "18.16.1".
func (db *DB) Version() (string, error) {
	v, err := db.ServerVersion()
	if err != nil {
		return "", fmt.Errorf("clickhouse version: %w", err)
	}
	return fmt.Sprintf("%d.%d.%d", v.Version.Major, v.Version.Minor, v.Version.Patch), nil
}

// ValidDatabase reports whether name may be a database of cds: 1 to 64 of
// [A-Za-z0-9_], not starting with a digit. Open refuses any other name, so
// that Table can put it between backticks without quoting.
func ValidDatabase(name string) bool {
	if len(name) == 0 || len(name) > 64 || '0' <= name[0] && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Table returns the qualified name of a table of the cds database.
func (db *DB) Table(name string) string { return "`" + db.Name + "`." + name }
