package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// reachd completion bash|zsh|fish prints a script that completes the
// commands, the network subcommands and each command's flags. The flags
// are read from each command's own -h, so the script follows the code.

// completion is registered here rather than in main.go's table, which it
// reads: a table entry would refer to itself.
func init() { commands = append(commands, command{"completion", runCompletion}) }

// subcommands completes the second word of the commands that have them.
var subcommands = map[string][]string{
	"network":    {"join", "leave", "list"},
	"completion": {"bash", "zsh", "fish"},
}

// completionFlag is one flag of a command.
type completionFlag struct{ name, usage string }

// completionCommand is one command with its flags.
type completionCommand struct {
	name  string
	flags []completionFlag
}

// completionCommands lists the commands, each with the flags its -h
// prints.
func completionCommands(ctx context.Context) []completionCommand {
	var out []completionCommand
	for _, c := range commands {
		cc := completionCommand{name: c.name}
		if c.name != "completion" {
			var help bytes.Buffer
			c.run(ctx, []string{"-h"}, strings.NewReader(""), io.Discard, &help)
			cc.flags = parseDefaults(help.String())
		}
		out = append(out, cc)
	}
	return out
}

// parseDefaults reads flag.PrintDefaults' output: "  -name type" lines,
// each followed by its indented usage.
func parseDefaults(s string) []completionFlag {
	var flags []completionFlag
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "  -"):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "  -"), " ")
			name, _, _ = strings.Cut(name, "\t")
			flags = append(flags, completionFlag{name: name})
		case strings.HasPrefix(line, "    \t") && len(flags) > 0:
			if f := &flags[len(flags)-1]; f.usage == "" {
				f.usage = strings.TrimSpace(line)
			}
		}
	}
	return flags
}

func runCompletion(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd completion", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: reachd completion bash|zsh|fish\n\n"+
			"bash: source <(reachd completion bash)\n"+
			"zsh:  source <(reachd completion zsh)   (after compinit)\n"+
			"fish: reachd completion fish | source\n")
	}
	pos, err := parseFlags(fs, args, stderr, 1)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want a shell: bash, zsh or fish")
	}
	cmds := completionCommands(ctx)
	var script string
	switch pos[0] {
	case "bash":
		script = bashCompletion(cmds)
	case "zsh":
		script = zshCompletion(cmds)
	case "fish":
		script = fishCompletion(cmds)
	default:
		return usagef("unknown shell %q: want bash, zsh or fish", pos[0])
	}
	_, err = io.WriteString(stdout, script)
	return err
}

func commandNames(cmds []completionCommand) string {
	names := []string{"help"}
	for _, c := range cmds {
		names = append(names, c.name)
	}
	return strings.Join(names, " ")
}

func flagWords(c completionCommand) string {
	words := make([]string, len(c.flags))
	for i, f := range c.flags {
		words[i] = "--" + f.name
	}
	return strings.Join(words, " ")
}

func bashCompletion(cmds []completionCommand) string {
	var b strings.Builder
	b.WriteString("# bash completion for reachd: source <(reachd completion bash)\n")
	b.WriteString("_reachd() {\n")
	b.WriteString("    local cur=${COMP_WORDS[COMP_CWORD]} words=\n")
	b.WriteString("    if [ \"$COMP_CWORD\" -eq 1 ]; then\n")
	fmt.Fprintf(&b, "        COMPREPLY=($(compgen -W '%s' -- \"$cur\"))\n", commandNames(cmds))
	b.WriteString("        return\n    fi\n")
	b.WriteString("    case ${COMP_WORDS[1]} in\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %s)\n", c.name)
		if subs, ok := subcommands[c.name]; ok {
			fmt.Fprintf(&b, "        if [ \"$COMP_CWORD\" -eq 2 ]; then COMPREPLY=($(compgen -W '%s' -- \"$cur\")); return; fi\n", strings.Join(subs, " "))
		}
		fmt.Fprintf(&b, "        words='%s' ;;\n", flagWords(c))
	}
	b.WriteString("    esac\n")
	b.WriteString("    case $cur in\n")
	b.WriteString("    -*) COMPREPLY=($(compgen -W \"$words\" -- \"$cur\")) ;;\n")
	b.WriteString("    *) COMPREPLY=() ;;\n")
	b.WriteString("    esac\n")
	b.WriteString("}\n")
	b.WriteString("complete -o default -F _reachd reachd\n")
	return b.String()
}

func zshCompletion(cmds []completionCommand) string {
	var b strings.Builder
	b.WriteString("#compdef reachd\n# zsh completion for reachd: source <(reachd completion zsh), after compinit\n")
	b.WriteString("_reachd() {\n")
	b.WriteString("    if (( CURRENT == 2 )); then\n")
	fmt.Fprintf(&b, "        compadd -- %s\n", commandNames(cmds))
	b.WriteString("        return\n    fi\n")
	b.WriteString("    case ${words[2]} in\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %s)\n", c.name)
		if subs, ok := subcommands[c.name]; ok {
			fmt.Fprintf(&b, "        if (( CURRENT == 3 )); then compadd -- %s; return; fi\n", strings.Join(subs, " "))
		}
		if len(c.flags) > 0 {
			fmt.Fprintf(&b, "        [[ $PREFIX == -* ]] && compadd -- %s\n", flagWords(c))
		}
		b.WriteString("        ;;\n")
	}
	b.WriteString("    esac\n")
	b.WriteString("    [[ $PREFIX == -* ]] || _files\n")
	b.WriteString("}\n")
	b.WriteString("compdef _reachd reachd\n")
	return b.String()
}

// fishQuote quotes s for fish between single quotes.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func fishCompletion(cmds []completionCommand) string {
	var b strings.Builder
	b.WriteString("# fish completion for reachd: reachd completion fish | source\n")
	b.WriteString("complete -c reachd -f -n __fish_use_subcommand -a help\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "complete -c reachd -f -n __fish_use_subcommand -a %s\n", c.name)
		cond := fishQuote("__fish_seen_subcommand_from " + c.name)
		for _, s := range subcommands[c.name] {
			fmt.Fprintf(&b, "complete -c reachd -f -n %s -a %s\n", cond, s)
		}
		for _, f := range c.flags {
			fmt.Fprintf(&b, "complete -c reachd -n %s -l %s -d %s\n", cond, f.name, fishQuote(f.usage))
		}
	}
	return b.String()
}
