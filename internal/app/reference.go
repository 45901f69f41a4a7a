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
	loaded, err := db.Loaded(ctx, kind, version)
	if err != nil {
		return fmt.Errorf("load %s %s: %w", kind, version, err)
	}
	if !loaded {
		if err := insert(); err != nil {
			return fmt.Errorf("load %s %s: %w", kind, version, err)
		}
	}
	if err := db.RecordLoad(ctx, kind, version, now); err != nil {
		return fmt.Errorf("record %s load: %w", kind, err)
	}
	return nil
}

func insertCatalog(ctx context.Context, db *chdb.DB, cat *catalog.Catalog, now time.Time) error {
	var inds []chdb.IndicatorRow
	for _, ind := range cat.Indicators() {
		levels := make([]string, len(ind.Levels))
		for i, l := range ind.Levels {
			levels[i] = string(l)
		}
		inds = append(inds, chdb.IndicatorRow{CatalogVersion: cat.Version(), Code: ind.Code, NameVI: ind.NameVI, NameEN: ind.NameEN,
			Unit: string(ind.Unit), Kind: string(ind.Kind), Direction: string(ind.Direction), Weight: ind.Weight, Levels: levels, Feeds: ind.Feeds, LoadedAt: now})
	}
	if err := db.InsertIndicators(ctx, inds); err != nil {
		return err
	}
	var targets []chdb.TargetRow
	for _, t := range cat.TargetRows() {
		targets = append(targets, chdb.TargetRow{CatalogVersion: cat.Version(), Indicator: t.Indicator, Year: uint16(t.Year), Deadline: civil(t.Deadline),
			Level: string(t.Level), Target: t.Target, Comparison: string(t.Comparison), Tolerance: t.Tolerance, Direction: string(t.Direction), LoadedAt: now})
	}
	return db.InsertTargets(ctx, targets)
}

func insertUnits(ctx context.Context, db *chdb.DB, reg *registry.Registry, now time.Time) error {
	var units []chdb.UnitRow
	for _, u := range reg.Units() {
		var to *time.Time
		if !u.ValidTo.IsZero() {
			t := civil(u.ValidTo)
			to = &t
		}
		units = append(units, chdb.UnitRow{RegistryVersion: reg.Version(), Code: u.Code, Name: u.Name, NameEN: u.NameEN, Level: string(u.Level),
			Parent: u.Parent, ValidFrom: civil(u.ValidFrom), ValidTo: to, Successor: u.Successor, LoadedAt: now})
	}
	return db.InsertUnits(ctx, units)
}

// civil is a calendar date as clickhouse-go writes a Date: 00:00 UTC.
func civil(d registry.Date) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
}
