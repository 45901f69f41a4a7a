package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/credentials"
)

const agencyUsage = `usage: cds agency <action> [flags] [code]

  list            every agency: credentials active or revoked, in the registry or not
  add <code>      create credentials for an agency of the registry (--force: one that is not)
  rotate <code>   replace an agency's NATS password and HTTP token (also reinstates a revoked one)
  revoke <code>   withdraw an agency's credentials

add and rotate print the new secrets as JSON on stdout; hand them to the agency.
The files change in <data dir> (credentials.json, credentials.hashes.json).
No restart is needed: the HTTP gateways that use the directory check it at
every request, and the command then asks the NATS server (--nats, else the
embedded server's address) to apply the change, as the admin user, and
returns once it has: its users are updated and the connections of a revoked
or rotated agency are closed. A NATS server that cannot be reached now reads
the files when it starts, or within 0.2 s if it runs but was unreachable.`

// runAgency manages agency credentials.
func runAgency(ctx context.Context, args []string) error {
	return agencyCommand(ctx, args, os.Stdout, os.Stderr)
}

func agencyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, agencyUsage)
		return nil
	}
	action := args[0]
	fs, c := newFlags("agency " + action)
	fs.SetOutput(stderr)
	force := fs.Bool("force", false, "add: create credentials for a code that is not in the registry")
	asJSON := fs.Bool("json", false, "list: print JSON")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), agencyUsage)
		fmt.Fprintln(fs.Output())
		fs.PrintDefaults()
	}
	// Flags may come before or after the code.
	var codes []string
	for rest := args[1:]; ; {
		if err := c.parse(fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		codes, rest = append(codes, fs.Arg(0)), fs.Args()[1:]
	}
	reg, _, err := c.cfg.Domain()
	if err != nil {
		return err
	}
	dir := c.cfg.DataDir
	if action == "list" {
		if len(codes) > 0 {
			return fmt.Errorf("agency list takes no code")
		}
		return listAgencies(stdout, dir, reg.Codes(), *asJSON)
	}
	if len(codes) != 1 {
		return fmt.Errorf("agency %s needs exactly one agency code (cds agency -h)", action)
	}
	code := codes[0]
	_, inRegistry := reg.Unit(code)
	if !inRegistry && action == "add" && !*force {
		return fmt.Errorf("agency add: %q is not an organisation unit of the registry (%s): its events would be refused as unknown_agency. Add the unit to the registry file (--units) first, or pass --force to create its credentials now", code, registryName(c.cfg.UnitsPath))
	}
	if err := changeAgency(action, dir, code, stdout, stderr); err != nil {
		return err
	}
	return notify(ctx, c.cfg, stderr)
}

// changeAgency adds, rotates or revokes the credentials of agency code in
// dir, printing the new secrets (stdout) or what happened (stderr).
func changeAgency(action, dir, code string, stdout, stderr io.Writer) error {
	switch action {
	case "add":
		s, err := credentials.Add(dir, code)
		if errors.Is(err, credentials.ErrExists) {
			return fmt.Errorf("agency add: %q already has credentials; to replace them: cds agency rotate %s", code, code)
		}
		if err != nil {
			return fmt.Errorf("agency add: %w", err)
		}
		if err := printSecret(stdout, stderr, code, s, "added"); err != nil {
			return err
		}
	case "rotate":
		s, err := credentials.Rotate(dir, code)
		if errors.Is(err, credentials.ErrUnknownAgency) {
			return fmt.Errorf("agency rotate: %q has no credentials in %s; to create them: cds agency add %s", code, dir, code)
		}
		if err != nil {
			return fmt.Errorf("agency rotate: %w", err)
		}
		if err := printSecret(stdout, stderr, code, s, "rotated: the old password and token no longer work"); err != nil {
			return err
		}
	case "revoke":
		err := credentials.Revoke(dir, code)
		if errors.Is(err, credentials.ErrUnknownAgency) {
			return fmt.Errorf("agency revoke: %q has no credentials in %s (cds agency list)", code, dir)
		}
		if err != nil {
			return fmt.Errorf("agency revoke: %w", err)
		}
		fmt.Fprintf(stderr, "%s revoked: its NATS password and HTTP token no longer work (cds agency rotate %s reinstates it with new secrets).\n", code, code)
	default:
		return fmt.Errorf("agency: unknown action %q (cds agency -h)", action)
	}
	return nil
}

// notify asks the running NATS server to apply the change now.
func notify(ctx context.Context, cfg app.Config, stderr io.Writer) error {
	r, url, err := app.NotifyCredentials(ctx, cfg)
	switch {
	case errors.Is(err, app.ErrNoServer):
		fmt.Fprintf(stderr, "No NATS server at %s: a server started later reads the new credentials (give --nats for another address).\n", url)
		return nil
	case err != nil:
		return fmt.Errorf("the credentials changed in %s, but %w; a cds NATS server watching the directory still applies them within 0.2 s", cfg.DataDir, err)
	}
	fmt.Fprintf(stderr, "In force on the NATS server at %s (%d agencies, %d revoked) and on every HTTP gateway using %s.\n", url, r.Agencies, r.Revoked, cfg.DataDir)
	return nil
}

func registryName(path string) string {
	if path == "" {
		return "the shipped Bắc Giang sample"
	}
	return path
}

func printSecret(stdout, stderr io.Writer, code string, s credentials.AgencySecret, what string) error {
	out := struct {
		Agency       string `json:"agency"`
		NATSUser     string `json:"nats_user"`
		NATSPassword string `json:"nats_password"`
		HTTPToken    string `json:"http_token"`
	}{code, code, s.NATSPassword, s.HTTPToken}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s %s.\n", code, what)
	return nil
}

// agencyState is one line of cds agency list.
type agencyState struct {
	Agency     string `json:"agency"`
	Status     string `json:"status"` // active, revoked, none
	InRegistry bool   `json:"in_registry"`
	Plaintext  bool   `json:"plaintext"` // its secrets are in credentials.json
}

func listAgencies(w io.Writer, dir string, registry []string, asJSON bool) error {
	h, err := credentials.LoadHashes(dir)
	if err != nil {
		return fmt.Errorf("agency list: %w", err)
	}
	f, err := credentials.LoadFile(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("agency list: %w", err)
	}
	states := map[string]*agencyState{}
	state := func(code string) *agencyState {
		if states[code] == nil {
			states[code] = &agencyState{Agency: code, Status: "none"}
		}
		return states[code]
	}
	for _, code := range registry {
		state(code).InRegistry = true
	}
	for code := range h.Agencies {
		state(code).Status = "active"
	}
	for _, code := range h.Revoked {
		state(code).Status = "revoked"
	}
	if f != nil {
		for code := range f.Agencies {
			state(code).Plaintext = true
		}
	}
	var list []agencyState
	for _, code := range slices.Sorted(maps.Keys(states)) {
		list = append(list, *states[code])
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENCY\tCREDENTIALS\tIN REGISTRY\tSECRET IN credentials.json")
	yes := map[bool]string{true: "yes", false: "no"}
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Agency, s.Status, yes[s.InRegistry], yes[s.Plaintext])
	}
	return tw.Flush()
}
