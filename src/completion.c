#include "completion.h"

#include <string.h>
#include <sys/capability.h>

#include "options.h"

/* What an option's argument is, judged by its placeholder in the table. */
static const char *arg_kind(const char *arg)
{
	if (strstr(arg, "CAP"))
		return "cap";
	if (strstr(arg, "NAME|PATH"))
		return "policy";
	if (strcmp(arg, "IMAGE") == 0)
		return "image";
	if (strstr(arg, "SRC") || strstr(arg, "DST") || strstr(arg, "DIR") || strstr(arg, "PATH") ||
	    strstr(arg, "FILE"))
		return "file";
	return "other";
}

/* A case pattern of the options whose argument is of `kind` (NULL: every option that takes
 * one); it starts with a name no option has, so it is never empty. */
static void option_words(FILE *out, const char *kind)
{
	size_t n;
	const struct option_def *t = options_table(&n);

	fputs("--hutch-none", out);
	for (size_t i = 0; i < n; i++)
		if (t[i].arg && (!kind || strcmp(arg_kind(t[i].arg), kind) == 0))
			fprintf(out, "|--%s", t[i].name);
}

void completion_bash(FILE *out)
{
	size_t n;
	const struct option_def *t = options_table(&n);

	fputs("# bash completion for hutch: generated from its option table by `hutch completion "
	      "bash`\n_hutch_policies() { hutch policy list 2>/dev/null | cut -f1; }\n"
	      "_hutch_images() { hutch image ls 2>/dev/null | tail -n +2 | cut -d' ' -f1; }\n"
	      "_hutch() {\n"
	      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} i w\n"
	      "\tif ((COMP_CWORD == 1)); then\n"
	      "\t\tCOMPREPLY=($(compgen -W 'run image policy --help --version' -- \"$cur\"))\n"
	      "\t\treturn\n"
	      "\tfi\n"
	      "\tcase ${COMP_WORDS[1]} in\n"
	      "\tpolicy)\n"
	      "\t\tif ((COMP_CWORD == 2)); then COMPREPLY=($(compgen -W 'show check list' -- "
	      "\"$cur\"))\n"
	      "\t\telif [[ $prev == show ]]; then COMPREPLY=($(compgen -W \"$(_hutch_policies)\" "
	      "-- \"$cur\"))\n"
	      "\t\telse COMPREPLY=($(compgen -f -- \"$cur\")); fi\n"
	      "\t\treturn ;;\n"
	      "\timage)\n"
	      "\t\tif ((COMP_CWORD == 2)); then COMPREPLY=($(compgen -W 'import ls rm inspect' -- "
	      "\"$cur\"))\n"
	      "\t\telif [[ $prev == rm || $prev == inspect ]]; then COMPREPLY=($(compgen -W "
	      "\"$(_hutch_images)\" -- \"$cur\"))\n"
	      "\t\telif [[ $prev == import ]]; then COMPREPLY=($(compgen -f -- \"$cur\")); fi\n"
	      "\t\treturn ;;\n"
	      "\trun) ;;\n"
	      "\t*) return ;;\n"
	      "\tesac\n",
	      out);
	/* Past `--` or the first word that is not an option or its argument: the command. */
	fputs("\tfor ((i = 2; i < COMP_CWORD; i++)); do\n"
	      "\t\tw=${COMP_WORDS[i]}\n"
	      "\t\tcase $w in\n"
	      "\t\t--) COMPREPLY=($(compgen -c -- \"$cur\")); return ;;\n\t\t",
	      out);
	option_words(out, NULL);
	fputs(") ((i++)) ;;\n"
	      "\t\t-*) ;;\n"
	      "\t\t*) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
	      "\t\tesac\n"
	      "\tdone\n"
	      "\tcase $prev in\n\t",
	      out);
	option_words(out, "file");
	fputs(") COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n\t", out);
	option_words(out, "policy");
	fputs(") COMPREPLY=($(compgen -W \"$(_hutch_policies)\" -- \"$cur\") $(compgen -f -- "
	      "\"$cur\")); return ;;\n\t",
	      out);
	option_words(out, "image");
	fputs(") COMPREPLY=($(compgen -W \"$(_hutch_images)\" -- \"$cur\")); return ;;\n\t", out);
	option_words(out, "cap");
	fputs(") COMPREPLY=($(compgen -W '", out);
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		char *name = cap_to_name((cap_value_t)cap);
		for (char *c = name; c && *c; c++)
			*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
		fprintf(out, "%s%s", cap ? " " : "", name ? name : "");
		cap_free(name);
	}
	fputs("' -- \"$cur\")); return ;;\n\t", out);
	option_words(out, "other");
	fputs(") return ;;\n\tesac\n"
	      "\tif [[ $cur == -* ]]; then\n\t\tCOMPREPLY=($(compgen -W '",
	      out);
	for (size_t i = 0; i < n; i++)
		if (!(t[i].flags & OPT_IMPORT)) /* not an option of run */
			fprintf(out, "%s--%s", i ? " " : "", t[i].name);
	fputs("' -- \"$cur\"))\n"
	      "\telse\n\t\tCOMPREPLY=($(compgen -c -- \"$cur\"))\n\tfi\n}\n"
	      "complete -F _hutch hutch\n",
	      out);
}
