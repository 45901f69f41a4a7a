package app

import (
	"context"
	"fmt"
	"time"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// LoadReference writes the catalogue and the registry into ClickHouse
// (cds.indicators, cds.targets, cds.units) so analysts can join against
// them, unless that version is there already, and records the load (the
// *_current views follow the latest load). Change a file's version when
// you change its content.
func LoadReference(ctx context.Context, db *chdb.DB, cat *catalog.Catalog, reg *registry.Registry) error {
	now := time.Now()
	if err := loadOnce(ctx, db, "catalog", cat.Version(), now, func() error { return insertCatalog(ctx, db, cat, now) }); err != nil {
		return err
	}
	return loadOnce(ctx, db, "registry", reg.Version(), now, func() error { return insertUnits(ctx, db, reg, now) })
}

func loadOnce(ctx context.Context, db *chdb.DB, kind, version string, now time.Time, insert func() error) error {
	var n uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM "+db.Table("reference_loads")+" WHERE kind = ? AND version = ?", kind, version).Scan(&n); err != nil {
		return fmt.Errorf("load %s %s: %w", kind, version, err)
	}
	if n == 0 {
		if err := insert(); err != nil {
			return fmt.Errorf("load %s %s: %w", kind, version, err)
		}
	}
	b, err := db.PrepareBatch(ctx, "INSERT INTO "+db.Table("reference_loads")+" (kind, version, loaded_at)")
	if err != nil {
		return fmt.Errorf("record %s load: %w", kind, err)
	}
	if err := b.Append(kind, version, now); err != nil {
		return fmt.Errorf("record %s load: %w", kind, err)
	}
	return b.Send()
}

func insertCatalog(ctx context.Context, db *chdb.DB, cat *catalog.Catalog, now time.Time) error {
	b, err := db.PrepareBatch(ctx, "INSERT INTO "+db.Table("indicators")+" (catalog_version, code, name_vi, name_en, unit, kind, direction, weight, levels, feeds, loaded_at)")
	if err != nil {
		return err
	}
	for _, ind := range cat.Indicators() {
		levels := make([]string, len(ind.Levels))
		for i, l := range ind.Levels {
			levels[i] = string(l)
		}
		if err := b.Append(cat.Version(), ind.Code, ind.NameVI, ind.NameEN, string(ind.Unit), string(ind.Kind), string(ind.Direction), ind.Weight, levels, ind.Feeds, now); err != nil {
			b.Abort()
			return err
		}
	}
	if err := b.Send(); err != nil {
		return err
	}
	b, err = db.PrepareBatch(ctx, "INSERT INTO "+db.Table("targets")+" (catalog_version, indicator, year, deadline, level, target, comparison, tolerance, direction, loaded_at)")
	if err != nil {
		return err
	}
	for _, t := range cat.TargetRows() {
		if err := b.Append(cat.Version(), t.Indicator, uint16(t.Year), civil(t.Deadline), string(t.Level), t.Target, string(t.Comparison), t.Tolerance, string(t.Direction), now); err != nil {
			b.Abort()
			return err
		}
	}
	return b.Send()
}

func insertUnits(ctx context.Context, db *chdb.DB, reg *registry.Registry, now time.Time) error {
	b, err := db.PrepareBatch(ctx, "INSERT INTO "+db.Table("units")+" (registry_version, code, name, name_en, level, parent, valid_from, valid_to, successor, loaded_at)")
	if err != nil {
		return err
	}
	for _, u := range reg.Units() {
		var to *time.Time
		if !u.ValidTo.IsZero() {
			t := civil(u.ValidTo)
			to = &t
		}
		if err := b.Append(reg.Version(), u.Code, u.Name, u.NameEN, string(u.Level), u.Parent, civil(u.ValidFrom), to, u.Successor, now); err != nil {
			b.Abort()
			return err
		}
	}
	return b.Send()
}

// civil is a calendar date as clickhouse-go writes a Date: 00:00 UTC.
func civil(d registry.Date) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
}
