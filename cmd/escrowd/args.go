package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/google/uuid"
)

// flagParser is the part of flag.FlagSet onePositional uses.
type flagParser interface {
	Parse([]string) error
	Args() []string
}

// onePositional parses flags placed before or after exactly one positional
// argument (a file name), which it returns; anything else is the usage.
func onePositional(fs flagParser, args []string, usage string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return "", errors.New(usage)
	}
	pos := rest[0]
	if err := fs.Parse(rest[1:]); err != nil {
		return "", err
	}
	if len(fs.Args()) != 0 {
		return "", errors.New(usage)
	}
	return pos, nil
}

// tenantFile parses `escrowd <name> FILE --tenant ID [flags]` (name is
// e.g. "fx import"): the configuration, the tenant and the file's name.
// register, when set, adds the command's own flags before parsing.
func tenantFile(name string, args []string, usage string, register func(*flag.FlagSet)) (*Config, uuid.UUID, string, error) {
	cfg, fs, err := load(name, args)
	if err != nil {
		return nil, uuid.Nil, "", err
	}
	tenant := fs.String("tenant", "", "tenant id")
	if register != nil {
		register(fs)
	}
	file, err := onePositional(fs, args, usage)
	if err != nil {
		return nil, uuid.Nil, "", err
	}
	tid, err := tenantID(*tenant)
	if err != nil {
		return nil, uuid.Nil, "", err
	}
	return cfg, tid, file, nil
}

// tenantID parses the --tenant flag's value.
func tenantID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, fmt.Errorf("--tenant: a tenant id is required: %w", err)
	}
	return id, nil
}
