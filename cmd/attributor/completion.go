package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/report"
)

func init() {
	register("completion", "print a shell completion script: completion bash|zsh|fish", runCompletion)
	register("__complete", "", runComplete) // hidden: what the scripts call
}

// The scripts are thin: each asks `attributor __complete WORDS...` for the
// candidates of the last word, so that completion knows every command,
// flag and value the binary knows, and falls back to file names when it
// offers none (a --channel-rules FILE, a spend CSV).
var completionScripts = map[string]string{
	"bash": `# bash completion for attributor: source <(attributor completion bash)
_attributor() {
    local cur=${COMP_WORDS[COMP_CWORD]} IFS=$'\n' out
    out=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    if [[ -n $out ]]; then
        COMPREPLY=($(compgen -W "$out" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -F _attributor attributor
`,
	"zsh": `#compdef attributor
# zsh completion for attributor: source <(attributor completion zsh), or save
# as _attributor in a directory of $fpath.
_attributor() {
    local -a cands
    cands=("${(@f)$(${words[1]} __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    if [[ -n ${cands[1]} ]]; then
        compadd -a cands
    else
        _files
    fi
}
if [[ ${funcstack[1]} == _attributor ]]; then
    _attributor "$@"
else
    compdef _attributor attributor
fi
`,
	"fish": `# fish completion for attributor: attributor completion fish | source
function __attributor_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l out ($words[1] __complete $words[2..-1] 2>/dev/null)
    if test (count $out) -gt 0
        printf '%s\n' $out
    else
        __fish_complete_path (commandline -ct)
    end
end
complete -c attributor -f -a '(__attributor_complete)'
`,
}

func runCompletion(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, `usage: attributor completion bash|zsh|fish

Prints the shell completion script of attributor. Load it with:
  bash:  source <(attributor completion bash)     (e.g. in ~/.bashrc)
  zsh:   source <(attributor completion zsh)      (after compinit, e.g. in ~/.zshrc)
  fish:  attributor completion fish | source      (or save it in ~/.config/fish/completions/attributor.fish)
`)
		return 0
	}
	if len(args) != 1 || completionScripts[args[0]] == "" {
		return exitUsage(nil, stderr, "completion", "want one shell: bash, zsh or fish")
	}
	fmt.Fprint(stdout, completionScripts[args[0]])
	return 0
}

// runComplete prints the candidates for the last of words, one a line.
func runComplete(words []string, stdout, _ io.Writer) int {
	for _, c := range complete(words) {
		fmt.Fprintln(stdout, c)
	}
	return 0
}

func complete(words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, prev := words[len(words)-1], words[:len(words)-1]
	if len(prev) == 0 {
		names := []string{"help"}
		for n, c := range commands {
			if c.summary != "" {
				names = append(names, n)
			}
		}
		return withPrefix(names, cur)
	}
	cmd := prev[0]
	switch cmd {
	case "help":
		if len(prev) == 1 {
			return complete([]string{cur})
		}
		return nil
	case "completion":
		return withPrefix([]string{"bash", "fish", "zsh"}, cur)
	}
	c, ok := commands[cmd]
	if !ok {
		return nil
	}
	// The command's help hands its flags to a collector instead of
	// printing them (see envFlags.help).
	col := &flagCollector{Writer: io.Discard}
	c.run([]string{"--help"}, col, io.Discard)
	if col.e == nil {
		return nil
	}
	fs := col.e.fs
	if last := prev[len(prev)-1]; len(prev) > 1 && strings.HasPrefix(last, "-") && !strings.Contains(last, "=") {
		if f := fs.Lookup(strings.TrimLeft(last, "-")); f != nil && !isBool(f) {
			return withPrefix(flagValues(cmd, f.Name), cur)
		}
	}
	if strings.HasPrefix(cur, "-") {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
		names = append(names, "--help")
		return withPrefix(names, cur)
	}
	positional := 0
	for i := 1; i < len(prev); i++ {
		w := prev[i]
		if strings.HasPrefix(w, "-") {
			if f := fs.Lookup(strings.TrimLeft(w, "-")); f != nil && !isBool(f) && !strings.Contains(w, "=") {
				i++ // its value
			}
			continue
		}
		positional++
	}
	switch {
	case cmd == "report" && positional == 0:
		var names []string
		for _, r := range report.Reports() {
			names = append(names, r.Name)
		}
		return withPrefix(names, cur)
	case cmd == "spend" && positional == 0:
		return withPrefix([]string{"import"}, cur)
	}
	return nil
}

// flagValues are the values a flag takes, when they are a short list.
func flagValues(cmd, name string) []string {
	switch name {
	case "format":
		if cmd == "replay" {
			return []string{"ndjson", "csv"}
		}
		return []string{"table", "csv", "json"}
	case "model":
		return append([]string{"all"}, attribution.ModelNames...)
	case "models":
		return append([]string{"all"}, attribution.ModelNames...)
	case "log-level":
		return []string{"debug", "info", "warn", "error"}
	case "clickhouse-compression":
		return []string{"auto", "lz4", "none"}
	case "kafka-sasl-mechanism":
		return []string{"plain", "scram-sha-256", "scram-sha-512"}
	case "by":
		return []string{"channel", "campaign"}
	}
	return nil
}

func withPrefix(cands []string, prefix string) []string {
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}
