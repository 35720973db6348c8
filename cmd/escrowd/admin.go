package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/tenants"
)

func cmdMigrate(ctx context.Context, args []string) error {
	cfg, fs, err := load("migrate", args)
	if err != nil {
		return err
	}
	a, err := parseOpen(ctx, cfg, fs, args)
	if err != nil {
		return err
	}
	defer a.close()
	n, err := a.migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "migrate: %d statements applied\n", n)
	return nil
}

func cmdTenants(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: escrowd tenants create --name NAME")
	}
	cfg, fs, err := load("tenants create", args[1:])
	if err != nil {
		return err
	}
	name := fs.String("name", "", "tenant (marketplace) name")
	a, err := parseOpen(ctx, cfg, fs, args[1:])
	if err != nil {
		return err
	}
	defer a.close()
	t, err := a.set.Tenants.CreateTenant(ctx, *name)
	if err != nil {
		return err
	}
	fmt.Println(t.ID)
	return nil
}

func cmdKeys(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: escrowd keys create|list|revoke ...")
	}
	sub := args[0]
	cfg, fs, err := load("keys "+sub, args[1:])
	if err != nil {
		return err
	}
	tenant := fs.String("tenant", "", "tenant id")
	role := fs.String("role", "", "role: marketplace, dispute_agent, risk_reviewer, finance, admin")
	label := fs.String("label", "", "a label for the key")
	keyID := fs.String("id", "", "key id (revoke)")
	a, err := parseOpen(ctx, cfg, fs, args[1:])
	if err != nil {
		return err
	}
	defer a.close()
	switch sub {
	case "create":
		tid, err := uuid.Parse(*tenant)
		if err != nil {
			return fmt.Errorf("--tenant: %w", err)
		}
		_, secret, err := a.set.Tenants.CreateKey(ctx, tid, tenants.Role(*role), *label)
		if err != nil {
			return err
		}
		fmt.Println(secret)
	case "list":
		tid, err := uuid.Parse(*tenant)
		if err != nil {
			return fmt.Errorf("--tenant: %w", err)
		}
		keys, err := a.set.Tenants.ListKeys(ctx, tid)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tROLE\tLABEL\tCREATED\tREVOKED")
		for _, k := range keys {
			rev := ""
			if k.RevokedAt != nil {
				rev = k.RevokedAt.Format("2006-01-02T15:04:05Z")
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, k.Label, k.CreatedAt.Format("2006-01-02T15:04:05Z"), rev)
		}
		return w.Flush()
	case "revoke":
		id, err := uuid.Parse(*keyID)
		if err != nil {
			return fmt.Errorf("--id: %w", err)
		}
		if err := a.set.Tenants.RevokeKey(ctx, id); err != nil {
			return err
		}
		fmt.Printf("revoked %s: running servers refuse it within %s\n", id, tenants.KeyCacheTTL)
		return nil
	default:
		return fmt.Errorf("unknown keys subcommand %q", sub)
	}
	return nil
}
