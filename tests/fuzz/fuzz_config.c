/*
 * fuzz_config.c: libFuzzer harness for the configuration parsers: the
 * config file (`key = value` lines) and command-line flags.
 *
 * The input's first byte picks the parser; the rest is the file text, or
 * NUL-separated arguments. Every input must come back as a loaded config or
 * a one-line error, never a crash, leak or undefined behaviour.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void load(KilnConfigLayer *flags)
{
    KilnError err = {0};
    KilnConfig *cfg = NULL;
    if (config_load(NULL, flags, true, &cfg, &err))
        config_release(cfg);
    else if (strchr(err.message, '\n'))
        abort(); /* errors are one line */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    KilnConfigLayer flags = {0};
    if (data[0] & 1) {
        /* Config file from memory, named through /proc/self/fd. */
        int fd = memfd_create("kiln-fuzz", MFD_CLOEXEC);
        if (fd < 0)
            abort();
        if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
            abort();
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        flags.config_file = strdup(path);
        load(&flags);
        close(fd);
    } else {
        /* Flags: NUL-separated arguments. */
        char *copy = malloc(size);
        if (!copy)
            abort();
        memcpy(copy, data + 1, size - 1);
        copy[size - 1] = '\0';
        char *argv[64];
        int argc = 0;
        for (size_t i = 0; i < size - 1 && argc < 64;) {
            argv[argc++] = copy + i;
            i += strlen(copy + i) + 1;
        }
        KilnError err = {0};
        if (config_layer_parse_args(&flags, argc, argv, &err))
            load(&flags);
        free(copy);
    }
    config_layer_free(&flags);
    return 0;
}
