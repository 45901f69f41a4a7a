package chdb

import (
	"errors"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// DefaultMaxConns is the size of a DB's connection pool when
// Config.MaxConns is 0.
const DefaultMaxConns = 8

// Busy reports whether err says that every connection of the pool
// (Config.MaxConns) stayed taken for Config.DialTimeout: ClickHouse is
// busy, not broken, and the same request may succeed a moment later.
func Busy(err error) bool { return errors.Is(err, clickhouse.ErrAcquireConnTimeout) }
