package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/deadletter"
	"github.com/bacgiang/cds/internal/natsserver"
)

const dlqUsage = `usage: cds dlq list   [--reason R] [--from SEQ] [--to SEQ] [--limit N]
       cds dlq show   SEQ
       cds dlq replay (--seq SEQ | --from SEQ [--to SEQ] | --reason R | --all) [--dry-run] [--force]

Dead letters are the events the projector refused, in stream CDS_DLQ on
cds.dlq.<reason>. SEQ is a CDS_DLQ sequence (the first column of list).
replay republishes a dead letter's original bytes to its original subject,
with Nats-Msg-Id set to the event id, after the registry or the data was fixed;
it first checks the event against the current registry (--force skips that).
The commands connect as the admin user of <data>/credentials.json.`

func runDLQ(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(os.Stderr, dlqUsage)
		return errors.New("dlq: give list, show or replay")
	}
	switch args[0] {
	case "list":
		return dlqList(ctx, args[1:])
	case "show":
		return dlqShow(ctx, args[1:])
	case "replay":
		return dlqReplay(ctx, args[1:])
	}
	fmt.Fprintln(os.Stderr, dlqUsage)
	return fmt.Errorf("dlq: unknown subcommand %q", args[0])
}

// dlqConnect connects as the admin user and opens the dead-letter store.
func dlqConnect(ctx context.Context, c *common) (jetstream.JetStream, *deadletter.Store, func(), error) {
	f, err := credentials.LoadFile(c.cfg.DataDir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dlq: admin credentials: %w", err)
	}
	url := c.cfg.NATSClientURL()
	nc, err := nats.Connect(url, nats.Name("cds-dlq"), nats.UserInfo(f.Admin.User, f.Admin.Password))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dlq: connect %s as %s: %w", url, f.Admin.User, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	s, err := deadletter.Open(ctx, js)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	return js, s, nc.Close, nil
}

func dlqList(ctx context.Context, args []string) error {
	fs, c := newFlags("dlq list")
	reason := fs.String("reason", "", "only this reason (e.g. unknown_agency)")
	from := fs.Uint64("from", 0, "first CDS_DLQ sequence")
	to := fs.Uint64("to", 0, "last CDS_DLQ sequence (0 = the last)")
	limit := fs.Int("limit", 0, "at most this many (0 = all)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	_, s, closeFn, err := dlqConnect(ctx, c)
	if err != nil {
		return err
	}
	defer closeFn()
	letters, err := s.List(ctx, deadletter.Selection{From: *from, To: *to, Reason: *reason}, *limit)
	if err != nil {
		return err
	}
	printLetters(os.Stdout, letters)
	return nil
}

func printLetters(w io.Writer, letters []*deadletter.Letter) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tREASON\tFIELD\tSUBJECT\tID\tSTREAM SEQ")
	for _, l := range letters {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\n", l.Seq, l.Time.In(events.Zone).Format(time.RFC3339),
			l.Reason, orDash(l.Field), l.Subject, orDash(l.ID), l.StreamSeq)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d dead letters\n", len(letters))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dlqShow(ctx context.Context, args []string) error {
	fs, c := newFlags("dlq show")
	var arg string // SEQ may come before or after the flags
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if arg == "" && fs.NArg() == 1 {
		arg = fs.Arg(0)
	} else if fs.NArg() != 0 || arg == "" {
		return errors.New("dlq show: give one CDS_DLQ sequence")
	}
	seq, err := strconv.ParseUint(arg, 10, 64)
	if err != nil {
		return fmt.Errorf("dlq show: sequence %q: %w", arg, err)
	}
	_, s, closeFn, err := dlqConnect(ctx, c)
	if err != nil {
		return err
	}
	defer closeFn()
	l, err := s.Get(ctx, seq)
	if err != nil {
		return err
	}
	printLetter(os.Stdout, l)
	return nil
}

func printLetter(w io.Writer, l *deadletter.Letter) {
	fmt.Fprintf(w, "CDS_DLQ seq %d, stored %s\n", l.Seq, l.Time.In(events.Zone).Format(time.RFC3339))
	keys := make([]string, 0, len(l.Header))
	for k := range l.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range l.Header[k] {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintf(w, "\n%s\n", l.Data)
}

func dlqReplay(ctx context.Context, args []string) error {
	fs, c := newFlags("dlq replay")
	one := fs.Uint64("seq", 0, "replay this CDS_DLQ sequence")
	from := fs.Uint64("from", 0, "replay from this CDS_DLQ sequence")
	to := fs.Uint64("to", 0, "replay up to this CDS_DLQ sequence (with --from; 0 = the last)")
	reason := fs.String("reason", "", "replay the dead letters of this reason (with --from/--to: within the range)")
	all := fs.Bool("all", false, "replay every dead letter")
	dryRun := fs.Bool("dry-run", false, "check and report, publish nothing")
	force := fs.Bool("force", false, "publish even what the current registry still refuses (it is dead-lettered again)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	var sel deadletter.Selection
	switch {
	case *one != 0:
		if *from != 0 || *to != 0 || *all {
			return errors.New("dlq replay: --seq excludes --from, --to and --all")
		}
		sel = deadletter.Seq(*one)
		sel.Reason = *reason
	case *from != 0 || *to != 0 || *reason != "":
		if *all {
			return errors.New("dlq replay: --all excludes --from, --to and --reason")
		}
		sel = deadletter.Selection{From: *from, To: *to, Reason: *reason}
	case *all:
	default:
		return errors.New("dlq replay: say what to replay: --seq, --from/--to, --reason or --all")
	}
	reg, _, err := c.cfg.Domain()
	if err != nil {
		return err
	}
	js, s, closeFn, err := dlqConnect(ctx, c)
	if err != nil {
		return err
	}
	defer closeFn()
	opts := deadletter.ReplayOptions{
		Check:  validator(reg),
		Force:  *force,
		DryRun: *dryRun,
	}
	if st, err := js.Stream(ctx, natsserver.EventsStream); err == nil {
		opts.DuplicateWindow = st.CachedInfo().Config.Duplicates
	}
	results, err := s.Replay(ctx, sel, opts)
	notDone := printReplay(os.Stdout, results)
	if err != nil {
		return err
	}
	if notDone > 0 {
		return fmt.Errorf("dlq replay: %d of %d dead letters not replayed", notDone, len(results))
	}
	return nil
}

// validator checks an event as the projector does, against the registry
// and the clock of now.
func validator(units events.Units) func(subject string, data []byte) error {
	rules := events.Rules{Units: units}
	return func(subject string, data []byte) error {
		_, err := rules.CheckMessage(subject, data)
		return err
	}
}

// printReplay prints one line per dead letter and a summary, and returns how
// many were not replayed (held, still invalid, failed).
func printReplay(w io.Writer, results []deadletter.Result) int {
	counts := map[deadletter.Outcome]int{}
	for _, r := range results {
		counts[r.Outcome]++
		l := r.Letter
		fmt.Fprintf(w, "seq %d (%s, id %s): ", l.Seq, l.Reason, orDash(l.ID))
		switch r.Outcome {
		case deadletter.Published:
			fmt.Fprintf(w, "published again as %s seq %d\n", natsserver.EventsStream, r.StreamSeq)
		case deadletter.Duplicate:
			fmt.Fprintf(w, "not published: %s seq %d already holds this id\n", natsserver.EventsStream, r.StreamSeq)
		case deadletter.Held:
			fmt.Fprintf(w, "held: the log still remembers this id from the refused original (seq %d)", r.StreamSeq)
			if !r.RetryAfter.IsZero() {
				fmt.Fprintf(w, "; replay again after %s", r.RetryAfter.In(events.Zone).Format(time.RFC3339))
			}
			fmt.Fprintln(w)
		case deadletter.StillInvalid:
			fmt.Fprintf(w, "still invalid, not published: %s\n", r.Detail)
		case deadletter.WouldPublish:
			fmt.Fprintln(w, "valid now; would be published")
		default:
			fmt.Fprintf(w, "%s: %s\n", r.Outcome, r.Detail)
		}
	}
	fmt.Fprintf(w, "replay: %d dead letters:", len(results))
	for _, o := range []deadletter.Outcome{deadletter.Published, deadletter.Duplicate, deadletter.WouldPublish, deadletter.Held, deadletter.StillInvalid, deadletter.Failed} {
		fmt.Fprintf(w, " %s %d", o, counts[o])
	}
	fmt.Fprintln(w)
	return counts[deadletter.Held] + counts[deadletter.StillInvalid] + counts[deadletter.Failed]
}
