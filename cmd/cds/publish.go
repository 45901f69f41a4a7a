package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/credentials"
)

func runPublish(ctx context.Context, args []string) error {
	fs, c := newFlags("publish")
	agency := fs.String("agency", "", "agency code to publish as (NATS user); required")
	password := fs.String("password", env("CDS_NATS_PASSWORD", ""), "the agency's NATS password; default: from <data>/credentials.json (CDS_NATS_PASSWORD)")
	noValidate := fs.Bool("no-validate", false, "send lines that fail local validation too (the server refuses them with an error PubAck and keeps them in the dead-letter stream, GET /v1/dlq); needs -subject")
	subject := fs.String("subject", "", "publish every line to this subject instead of cds.events.<agency>.<type>")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cds publish -agency <code> [flags] [file.ndjson]   (stdin when no file)")
		fs.PrintDefaults()
	}
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *agency == "" {
		return fmt.Errorf("publish: -agency is required")
	}
	if *noValidate && *subject == "" {
		return fmt.Errorf("publish: -no-validate needs -subject")
	}
	if *password == "" {
		f, err := credentials.LoadFile(c.cfg.DataDir)
		if err != nil {
			return fmt.Errorf("publish: no -password and %w", err)
		}
		s, ok := f.Agencies[*agency]
		if !ok {
			return fmt.Errorf("publish: agency %q has no credentials in %s", *agency, credentialsPath(c.cfg))
		}
		*password = s.NATSPassword
	}
	in := io.Reader(os.Stdin)
	if fs.NArg() > 0 {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	url := c.cfg.NATSClientURL()
	nc, err := nats.Connect(url, nats.Name("cds-publish"), nats.UserInfo(*agency, *password), nats.CustomInboxPrefix("_INBOX."+*agency))
	if err != nil {
		return fmt.Errorf("connect %s as %s: %w", url, *agency, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	futures, invalid, err := publishLines(js, in, *subject, *noValidate)
	if err != nil {
		return err
	}
	published, dups, failed, err := awaitAcks(ctx, futures)
	if err != nil {
		return err
	}
	fmt.Printf("published: %d (duplicates: %d), failed: %d, invalid: %d\n", published, dups, failed, invalid)
	if failed > 0 || invalid > 0 {
		return fmt.Errorf("%d events not published", failed+invalid)
	}
	return nil
}

// publishLines publishes each non-empty line of in, an event, to its
// subject (or to subject when set) with Nats-Msg-Id = its id. A line that
// does not decode is reported on stderr and counted in invalid, unless
// noValidate, when it is sent as it is.
func publishLines(js jetstream.JetStream, in io.Reader, subject string, noValidate bool) (futures []jetstream.PubAckFuture, invalid int, err error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		b := append([]byte(nil), sc.Bytes()...)
		if len(b) == 0 {
			continue
		}
		e, err := events.Decode(b)
		if err != nil && !noValidate {
			invalid++
			fmt.Fprintf(os.Stderr, "line %d: %v\n", line, err)
			continue
		}
		msg := nats.NewMsg(subject)
		if msg.Subject == "" {
			msg.Subject = e.Subject()
		}
		msg.Data = b
		if e != nil {
			msg.Header.Set(jetstream.MsgIDHeader, e.ID)
		}
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			return nil, invalid, fmt.Errorf("line %d: publish: %w", line, err)
		}
		futures = append(futures, f)
	}
	return futures, invalid, sc.Err()
}

// awaitAcks waits up to 30 s for the acknowledgements of futures and
// counts them; a refusal is reported on stderr.
func awaitAcks(ctx context.Context, futures []jetstream.PubAckFuture) (published, dups, failed int, err error) {
	deadline := time.After(30 * time.Second)
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			published++
			if ack.Duplicate {
				dups++
			}
		case err := <-f.Err():
			failed++
			fmt.Fprintf(os.Stderr, "%s: %v\n", f.Msg().Header.Get(jetstream.MsgIDHeader), err)
		case <-deadline:
			return published, dups, failed, fmt.Errorf("publish: timed out waiting for acknowledgements")
		case <-ctx.Done():
			return published, dups, failed, ctx.Err()
		}
	}
	return published, dups, failed, nil
}
