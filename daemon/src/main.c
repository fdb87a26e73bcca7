/*
 * main.c: the `kiln` command line: a table of commands, each with its
 * summary and its own --help. Commands parse their own flags; shared
 * configuration flags go through config.c.
 */
#include <stdio.h>
#include <string.h>

#include "auth_mail.h"
#include "auth_sms.h"
#include "config.h"
#include "dev.h"
#include "serve.h"

static int config_main(int argc, char **argv);
static int version_main(int argc, char **argv);
static int help_main(int argc, char **argv);

/*
 * Commands. Columns: name, entry point (argv after the command name),
 * one-line summary for `kiln --help`.
 */
static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"dev", dev_main, "run an embedded development backend (PostgreSQL + API) in ./.kiln"},
    {"serve", serve_main, "run the HTTP daemon against an existing database"},
    {"status", status_main, "show the URLs and keys of a `kiln dev` directory (--json)"},
    {"mail", mail_main, "list the auth mail outbox: codes and links of unsent mail (--to, --json)"},
    {"sms", sms_main, "list the auth SMS outbox: codes of unsent text messages (--to, --json)"},
    {"config", config_main, "print the effective configuration, secrets masked"},
    {"version", version_main, "print the version"},
    {"help", help_main, "show help for a command: kiln help CMD"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *out)
{
    fprintf(out,
            "kiln %s: a durable backend for generated apps, on your PostgreSQL\n"
            "\n"
            "usage: kiln COMMAND [flags]\n"
            "\n"
            "Commands:\n",
            KILN_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`kiln COMMAND --help` explains a command's flags.\n"
                 "\nConfiguration keys (config file `key = value`, environment KILN_KEY, or "
                 "--key flags):\n");
    config_print_help(out, false);
}

static const char config_help[] =
    "usage: kiln config [--config FILE] [--KEY VALUE ...] [--markdown]\n"
    "\n"
    "Prints the configuration `kiln serve` would run with, after the config file,\n"
    "KILN_* environment variables and flags are applied; secrets are shown as\n"
    "********. Exits 2 with one line naming the problem if the configuration is\n"
    "invalid (unknown key, value out of range). --markdown prints the key\n"
    "reference as a markdown table instead.\n"
    "\n"
    "Keys:\n";

static int config_main(int argc, char **argv)
{
    int nargs = 0;
    char *args[argc > 0 ? argc : 1];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(config_help, stdout);
            config_print_help(stdout, false);
            return 0;
        }
        if (strcmp(argv[i], "--markdown") == 0) {
            config_print_help(stdout, true);
            return 0;
        }
        args[nargs++] = argv[i];
    }
    KilnConfigLayer flags = {0};
    KilnError err = {0};
    KilnConfig *cfg = NULL;
    if (!config_layer_parse_args(&flags, nargs, args, &err) ||
        !config_load(NULL, &flags, false, &cfg, &err)) {
        fprintf(stderr, "kiln: %s\n", err.message);
        config_layer_free(&flags);
        return 2;
    }
    config_print(cfg, stdout);
    config_release(cfg);
    config_layer_free(&flags);
    return 0;
}

static int version_main(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("kiln %s\n", KILN_VERSION);
    return 0;
}

static int help_main(int argc, char **argv)
{
    if (argc == 0) {
        print_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, argv[0]) == 0) {
            char help[] = "--help";
            char *hv[] = {help};
            return commands[i].main(1, hv);
        }
    }
    fprintf(stderr, "kiln: unknown command '%s'; see kiln --help\n", argv[0]);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return version_main(0, NULL);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, argv[1]) == 0)
            return commands[i].main(argc - 2, argv + 2);
    fprintf(stderr, "kiln: unknown command '%s'; see kiln --help for the commands\n", argv[1]);
    return 2;
}
