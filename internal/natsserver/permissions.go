package natsserver

import (
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/bacgiang/cds/internal/credentials"
)

// CredentialsReloadSubject is where cds agency asks a running cds NATS
// server to apply changed credentials at once, and waits for the answer.
// Only the admin user may publish to it: no grant below allows it.
const CredentialsReloadSubject = "cds.admin.credentials.reload"

// ProjectorLeaseBucket is the key-value bucket of the projector lease
// (projector.LeaseBucket; the projector creates it).
const ProjectorLeaseBucket = "CDS_PROJECTOR"

// grant is what a NATS user may publish and subscribe to. In agency grants "{agency}"
// stands for the agency code.
type grant struct {
	publish   []string
	subscribe []string
}

// agencyGrant: an agency publishes its own events and reads only its own inbox, where its
// PubAcks arrive (its clients set the inbox prefix "_INBOX.<agency>"). It has no JetStream API
// access: it cannot read the stream, create consumers or delete anything.
var agencyGrant = grant{
	publish:   []string{"cds.events.{agency}.>"},
	subscribe: []string{"_INBOX.{agency}.>"},
}

// serviceGrants are the permissions of the service users, by credentials service key.
// The admin user has no permission list: it may do everything.
var serviceGrants = map[string]grant{
	// The projector consumes both streams, acks, dead-letters, and may create or update the
	// streams at start-up (EnsureStreams). It cannot delete or purge them. It holds its
	// lease in the key-value bucket ProjectorLeaseBucket (package projector).
	credentials.ServiceProjector: {
		publish: slices.Concat(
			[]string{"$JS.API.INFO", "$JS.API.STREAM.NAMES", "cds.dlq.>", "$KV." + ProjectorLeaseBucket + ".>"},
			streamAPI(EventsStream),
			streamAPI(DeadLetterStream),
			streamAPI("KV_"+ProjectorLeaseBucket),
		),
		subscribe: []string{"_INBOX.>"},
	},
	// The API publishes events on behalf of agencies that authenticated over HTTP, waits for
	// their PubAcks, and reads stream state for /healthz and /metrics. It dead-letters the
	// events it refuses and reads CDS_DLQ for GET /v1/dlq (no consumer, no delete).
	credentials.ServiceAPI: {
		publish: []string{"cds.events.>", "cds.dlq.>", "$JS.API.INFO", "$JS.API.STREAM.INFO." + EventsStream,
			"$JS.API.STREAM.INFO." + DeadLetterStream, "$JS.API.STREAM.MSG.GET." + DeadLetterStream},
		subscribe: []string{"_INBOX.>"},
	},
}

// streamAPI lists the JetStream API subjects a consumer of stream needs: stream info,
// create and update, message get, every consumer operation on that stream, and acks.
func streamAPI(stream string) []string {
	return []string{
		"$JS.API.STREAM.INFO." + stream,
		"$JS.API.STREAM.CREATE." + stream,
		"$JS.API.STREAM.UPDATE." + stream,
		"$JS.API.STREAM.MSG.GET." + stream,
		"$JS.API.DIRECT.GET." + stream,
		"$JS.API.DIRECT.GET." + stream + ".>",
		"$JS.API.CONSUMER.*." + stream,        // CREATE (ephemeral), NAMES, LIST
		"$JS.API.CONSUMER.*." + stream + ".>", // CREATE, INFO, DELETE, PAUSE, UNPIN
		"$JS.API.CONSUMER.DURABLE.CREATE." + stream + ".*",
		"$JS.API.CONSUMER.MSG.NEXT." + stream + ".*",
		"$JS.ACK." + stream + ".>",
		"$JS.FC." + stream + ".>",
	}
}

// gateGrant: the gate reads what agencies send and republishes it on the
// events subjects; it relays the PubAcks to the reply subjects nats-server
// made for the agencies, and answers there itself when it refuses; it
// dead-letters the events it refuses as invalid.
var gateGrant = grant{
	publish:   []string{"cds.events.>", "_R_.>", "cds.dlq.>"},
	subscribe: []string{IngressPrefix + ">", gateReplyPrefix + ">"},
}

// gateUser is the user of the gate's in-process connection; its password is
// made at each start and never leaves the process.
const gateUser = "cds-nats-gate"

// local is what is particular to one server of a cluster: its gate's
// password, made at each start and never leaving the process, and the
// token of its ingress subjects (accounts.go).
type local struct {
	gatePassword string
	node         string
}

func newLocal() local {
	return local{gatePassword: rand.Text(), node: strings.ToLower(rand.Text()[:12])}
}

// users turns hashes into nats-server users and accounts: the admin, the
// services and the gate of loc in the cds account, one account per agency
// that is not revoked, its imports leading to loc's gate. reportsFor adds
// publish subjects for aggregating agencies. A nil h means no
// authentication at all.
func users(h *credentials.Hashes, reportsFor map[string][]string, loc local) ([]*server.User, []*server.Account, error) {
	if h == nil {
		return nil, nil, nil
	}
	if h.Admin.User == "" || h.Admin.PasswordBcrypt == "" {
		return nil, nil, errors.New("natsserver: credentials have no admin user")
	}
	for code, others := range reportsFor {
		for _, x := range append([]string{code}, others...) {
			if err := credentials.ValidateAgency(x); err != nil {
				return nil, nil, fmt.Errorf("natsserver: reports-for of %q: %w", code, err)
			}
		}
	}
	cds, err := cdsAccount()
	if err != nil {
		return nil, nil, err
	}
	accounts := []*server.Account{cds}

	out := []*server.User{
		{Username: h.Admin.User, Password: h.Admin.PasswordBcrypt},
		{Username: gateUser, Password: loc.gatePassword, Permissions: gateGrant.permissions("")},
	}
	for _, name := range slices.Sorted(maps.Keys(h.Services)) {
		g, ok := serviceGrants[name]
		if !ok {
			return nil, nil, fmt.Errorf("natsserver: no permissions defined for service %q", name)
		}
		su := h.Services[name]
		out = append(out, &server.User{Username: su.User, Password: su.PasswordBcrypt, Permissions: g.permissions("")})
	}
	for _, code := range slices.Sorted(maps.Keys(h.Agencies)) {
		if h.IsRevoked(code) {
			continue
		}
		if err := credentials.ValidateAgency(code); err != nil {
			return nil, nil, fmt.Errorf("natsserver: %w", err)
		}
		perms := agencyGrant.permissions(code)
		for _, x := range reportsFor[code] { // an aggregating unit also publishes as x
			perms.Publish.Allow = append(perms.Publish.Allow, agencyGrant.permissions(x).Publish.Allow...)
		}
		acc, err := newAgencyAccount(cds, loc.node, code, reportsFor[code])
		if err != nil {
			return nil, nil, err
		}
		accounts = append(accounts, acc)
		out = append(out, &server.User{
			Username:    code,
			Password:    h.Agencies[code].NATSPasswordBcrypt,
			Permissions: perms,
			Account:     acc,
		})
	}
	seen := make(map[string]bool, len(out))
	for _, u := range out {
		if seen[u.Username] {
			return nil, nil, fmt.Errorf("natsserver: user %q defined twice", u.Username)
		}
		seen[u.Username] = true
	}
	return out, accounts, nil
}

func (g grant) permissions(agency string) *server.Permissions {
	expand := func(subjects []string) []string {
		out := make([]string, len(subjects))
		for i, s := range subjects {
			out[i] = strings.ReplaceAll(s, "{agency}", agency)
		}
		return out
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: expand(g.publish)},
		Subscribe: &server.SubjectPermission{Allow: expand(g.subscribe)},
	}
}
