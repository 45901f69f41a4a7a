package simulate

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/bacgiang/cds/events"
)

// Defaults of Config.
var (
	// DefaultStart is the day Resolution 111-NQ/TU was adopted.
	DefaultStart = time.Date(2021, 6, 11, 0, 0, 0, 0, events.Zone)
	// DefaultEnd is the end of the Resolution's 2030 horizon.
	DefaultEnd = time.Date(2030, 12, 31, 23, 59, 59, 0, events.Zone)
)

// DefaultSpeed is one simulated day per real second.
const DefaultSpeed = 24 * time.Hour

// Config configures a Simulator (and a Generator, which uses Start, Rate and Seed).
// The zero value of each field means its default.
type Config struct {
	// Start is the simulated time at which Run starts; default DefaultStart.
	Start time.Time
	// Speed is the simulated time that passes per real second; default
	// DefaultSpeed.
	Speed time.Duration
	// End is where the simulated clock stops; the simulator then idles.
	// Default DefaultEnd. Note that a projector refuses events whose
	// occurred_at is more than a day after it receives them, so a simulation
	// that runs past the real date produces dead letters.
	End time.Time
	// Rate scales the volume of events, default 1 (a few hundred events per
	// simulated day across the province). The service catalogues and the
	// yearly statistics do not scale.
	Rate float64
	// Seed makes the simulation deterministic when non-zero; zero picks a
	// random seed.
	Seed uint64

	// Clock is the real clock the simulated one is derived from; nil means
	// time.Now. Tests inject a fake one.
	Clock func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Speed == 0 {
		c.Speed = DefaultSpeed
	}
	if c.End.IsZero() {
		c.End = DefaultEnd
	}
	if c.Rate == 0 {
		c.Rate = 1
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64() | 1
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	c.Start = c.Start.In(events.Zone)
	c.End = c.End.In(events.Zone)
	return c
}

// validate checks a Config after withDefaults.
func (c Config) validate() error {
	var errs []error
	if c.Speed < 0 {
		errs = append(errs, fmt.Errorf("speed %s is negative", c.Speed))
	}
	if !c.End.After(c.Start) {
		errs = append(errs, fmt.Errorf("end %s is not after start %s", c.End.Format(time.RFC3339), c.Start.Format(time.RFC3339)))
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate > maxRate {
		errs = append(errs, fmt.Errorf("rate %g is not between 0 and %g", c.Rate, float64(maxRate)))
	}
	if c.Start.Year() < 2001 || c.End.Year() > 2099 {
		errs = append(errs, fmt.Errorf("simulated years %d-%d are outside 2001-2099", c.Start.Year(), c.End.Year()))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("simulate: config: %w", err)
	}
	return nil
}

// maxRate keeps a day's events in memory comfortably (~50k per day).
const maxRate = 100
