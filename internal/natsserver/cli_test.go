package natsserver

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestNatsCLI checks that an agency can publish with the stock nats CLI, given only its own
// permissions. It needs the binary, e.g.
//
//	GOBIN=/tmp/natscli go install github.com/nats-io/natscli/nats@v0.5.0
//	CDS_NATS_CLI=/tmp/natscli/nats go test -run NatsCLI ./natsserver/
func TestNatsCLI(t *testing.T) {
	bin := os.Getenv("CDS_NATS_CLI")
	if bin == "" {
		t.Skip("CDS_NATS_CLI is not set")
	}
	fx := newFixture(t, nil)
	pw := fx.creds.Agencies["bg-vietyen"].NATSPassword
	run := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(testContext(t), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// The command line of the README, with -s.
	common := []string{"--no-context", "-s", fx.srv.ClientURL(), "--user", "bg-vietyen", "--password", pw}
	event := `{"id":"cli-1","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00+07:00","data":{"workfile_id":"VY-1","online":true}}`
	pub := []string{"pub", "--jetstream", "-H", "Nats-Msg-Id:cli-1", "cds.events.bg-vietyen.workfile.processed", event}

	out, err := run(t, append(append(common, "--inbox-prefix", "_INBOX.bg-vietyen"), pub...)...)
	if err != nil {
		t.Fatalf("nats pub: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Stored in Stream: "+EventsStream) {
		t.Errorf("nats pub output lacks the PubAck:\n%s", out)
	}
	t.Logf("nats pub:\n%s", out)

	// Without the inbox prefix the PubAck cannot reach the agency.
	out, err = run(t, append(append(common, "--timeout", "1s"), pub...)...)
	if err == nil {
		t.Errorf("nats pub without --inbox-prefix succeeded:\n%s", out)
	}
	t.Logf("without --inbox-prefix:\n%s", out)

	// What a curious agency might try with the CLI fails.
	withInbox := append(common, "--inbox-prefix", "_INBOX.bg-vietyen", "--timeout", "1s")
	for _, args := range [][]string{
		{"stream", "info", EventsStream},
		{"stream", "ls"},
		{"stream", "get", EventsStream, "1"},
		{"stream", "purge", "-f", EventsStream},
		{"stream", "rm", "-f", EventsStream},
		{"consumer", "add", EventsStream, "spy", "--pull", "--defaults"},
		{"sub", "cds.events.>", "--count", "1"},
		{"pub", "cds.events.bg-ctk.dti.published", "{}"},
	} {
		if out, err := run(t, append(withInbox, args...)...); err == nil && !strings.Contains(out, "Permissions Violation") {
			t.Errorf("nats %s succeeded for an agency:\n%s", strings.Join(args, " "), out)
		}
	}

	// The operator reads the stream as admin.
	out, err = run(t, "--no-context", "--server", fx.srv.ClientURL(), "--user", fx.creds.Admin.User,
		"--password", fx.creds.Admin.Password, "stream", "info", EventsStream)
	if err != nil || !strings.Contains(out, "Messages: 1") {
		t.Errorf("nats stream info as admin: %v\n%s", err, out)
	}
}
