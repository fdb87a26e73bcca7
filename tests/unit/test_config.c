/* Unit tests of config.c: sources, precedence, validation, masking. */
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

static const char *SECRET = "0123456789abcdef0123456789abcdef-secret";

static char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/kiln-unit-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
    return path;
}

static KilnConfig *load_args(int argc, char **argv, bool for_serve, KilnError *err)
{
    KilnConfigLayer flags = {0};
    KilnConfig *cfg = NULL;
    if (config_layer_parse_args(&flags, argc, argv, err))
        config_load(NULL, &flags, for_serve, &cfg, err);
    config_layer_free(&flags);
    return cfg;
}

UNIT_TEST(defaults)
{
    KilnError err = {0};
    KilnConfig *cfg = load_args(0, NULL, false, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_STR_EQ(cfg->listen_address, "127.0.0.1");
    CHECK(cfg->port == 8000);
    CHECK(cfg->db_pool_size == 10);
    CHECK(cfg->access_log == true);
    CHECK(cfg->debug_endpoints == false);
    CHECK_STR_EQ(cfg->log_level, "info");
    config_release(cfg);
}

UNIT_TEST(serve_requires_db_url_only)
{
    KilnError err = {0};
    KilnConfig *cfg = load_args(0, NULL, true, &err);
    CHECK(cfg == NULL);
    CHECK(strstr(err.message, "db_url is not set") != NULL);

    char *argv[] = {"--db-url", "host=/tmp"};
    cfg = load_args(2, argv, true, &err);
    CHECK(cfg != NULL);
    if (cfg)
        CHECK(cfg->warnings == NULL);
    config_release(cfg);
}

/* jwt_secret, publishable_key and secret_key are retired: set anywhere they
 * load with a warning naming the key and where, never their value. */
UNIT_TEST(retired_keys_warn_and_are_ignored)
{
    char *path = write_file("port = 8001\npublishable_key = sb_publishable_filevalue\n");
    setenv("KILN_SECRET_KEY", "sb_secret_envvalue", 1);
    KilnError err = {0};
    char *argv[] = {"--config", path, "--db-url", "host=/tmp", "--jwt-secret", (char *)SECRET};
    KilnConfig *cfg = load_args(6, argv, true, &err);
    unsetenv("KILN_SECRET_KEY");
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK(cfg->port == 8001);
        CHECK(cfg->warnings != NULL);
        const char *w = cfg->warnings ? cfg->warnings : "";
        char where[96];
        snprintf(where, sizeof where, "publishable_key (%s:2) is no longer read", path);
        CHECK(strstr(w, where) != NULL);
        CHECK(strstr(w, "secret_key (environment variable KILN_SECRET_KEY)") != NULL);
        CHECK(strstr(w, "jwt_secret (flag --jwt_secret)") != NULL);
        CHECK(strstr(w, "kiln.set_legacy_jwt_secret") != NULL);
        CHECK(strstr(w, "kiln.import_api_key") != NULL);
        CHECK(strstr(w, "filevalue") == NULL && strstr(w, "envvalue") == NULL);
        CHECK(strstr(w, SECRET) == NULL);

        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        config_print(cfg, f);
        fclose(f);
        CHECK(strstr(text, "# warning: jwt_secret (flag --jwt_secret)") != NULL);
        CHECK(strstr(text, SECRET) == NULL);
        CHECK(strstr(text, "\njwt_secret =") == NULL);
        free(text);
        config_release(cfg);
    }
    unlink(path);

    /* A retired flag still needs its value; a misspelt one is still unknown. */
    char *a1[] = {"--db-url", "host=/tmp", "--secret-key"};
    CHECK(load_args(3, a1, true, &err) == NULL);
    CHECK(strstr(err.message, "needs a value") != NULL);
    char *a2[] = {"--jwt-secrte", "x"};
    CHECK(load_args(2, a2, false, &err) == NULL);
    CHECK(strstr(err.message, "unknown key") != NULL);
}

UNIT_TEST(flags_both_spellings_and_bool_without_value)
{
    KilnError err = {0};
    char *argv[] = {"--port=8123", "--db_pool_size", "3", "--debug-endpoints", "--log-level",
                    "debug"};
    KilnConfig *cfg = load_args(6, argv, false, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK(cfg->port == 8123);
    CHECK(cfg->db_pool_size == 3);
    CHECK(cfg->debug_endpoints == true);
    CHECK_STR_EQ(cfg->log_level, "debug");
    config_release(cfg);
}

UNIT_TEST(unknown_flag_suggests_nearest_key)
{
    KilnError err = {0};
    char *argv[] = {"--prot", "1"};
    CHECK(load_args(2, argv, false, &err) == NULL);
    CHECK(strstr(err.message, "unknown key 'prot'") != NULL);
    CHECK(strstr(err.message, "did you mean 'port'") != NULL);

    char *argv2[] = {"positional"};
    CHECK(load_args(1, argv2, false, &err) == NULL);
    CHECK(strstr(err.message, "unexpected argument") != NULL);
}

UNIT_TEST(out_of_range_and_malformed_values)
{
    KilnError err = {0};
    char *a1[] = {"--port", "70000"};
    CHECK(load_args(2, a1, false, &err) == NULL);
    CHECK(strstr(err.message, "out of range") != NULL);
    CHECK(strstr(err.message, "1 to 65535") != NULL);
    char *a2[] = {"--port", "80x"};
    CHECK(load_args(2, a2, false, &err) == NULL);
    CHECK(strstr(err.message, "whole number") != NULL);
    char *a3[] = {"--access-log", "maybe"};
    CHECK(load_args(2, a3, false, &err) == NULL);
    CHECK(strstr(err.message, "true or false") != NULL);
    char *a4[] = {"--listen-address", "localhost"};
    CHECK(load_args(2, a4, false, &err) == NULL);
    CHECK(strstr(err.message, "not an IP address") != NULL);
    char *a5[] = {"--log-level", "loud"};
    CHECK(load_args(2, a5, false, &err) == NULL);
    char *a6[] = {"--port"};
    CHECK(load_args(1, a6, false, &err) == NULL);
    CHECK(strstr(err.message, "needs a value") != NULL);
}

UNIT_TEST(cors_allowed_origins_checked)
{
    KilnError err = {0};
    KilnConfig *cfg = load_args(0, NULL, false, &err);
    CHECK(cfg && cfg->cors_allowed_origins && cfg->cors_allowed_origins[0] == '\0');
    config_release(cfg);
    char *ok[] = {"--cors-allowed-origins", "https://app.example.com, http://localhost:*"};
    cfg = load_args(2, ok, false, &err);
    CHECK(cfg != NULL);
    if (cfg)
        CHECK_STR_EQ(cfg->cors_allowed_origins, "https://app.example.com, http://localhost:*");
    config_release(cfg);
    char *bad[] = {"--cors-allowed-origins", "https://app.example.com/"};
    CHECK(load_args(2, bad, false, &err) == NULL);
    CHECK(strstr(err.message, "cors_allowed_origins (flag --cors_allowed_origins): entry "
                              "'https://app.example.com/' is not an origin") != NULL);
}

UNIT_TEST(file_env_flag_precedence)
{
    char *path = write_file("# comment\n\nport = 8001\nthreads = 3\nlog_level = \"warn\"\n"
                            "db_pool_size = 4\n");
    setenv("KILN_THREADS", "5", 1);
    setenv("KILN_DB_POOL_SIZE", "6", 1);
    KilnError err = {0};
    char *argv[] = {"--config", path, "--db-pool-size", "7"};
    KilnConfig *cfg = load_args(4, argv, false, &err);
    unsetenv("KILN_THREADS");
    unsetenv("KILN_DB_POOL_SIZE");
    unlink(path);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK(cfg->port == 8001);       /* file */
    CHECK(cfg->threads == 5);       /* env beats file */
    CHECK(cfg->db_pool_size == 7);  /* flag beats env */
    CHECK_STR_EQ(cfg->log_level, "warn"); /* quotes stripped */
    config_release(cfg);
}

UNIT_TEST(file_errors_name_file_and_line)
{
    char *path = write_file("port = 8001\nmystery = 1\n");
    KilnError err = {0};
    char *argv[] = {"--config", path};
    CHECK(load_args(2, argv, false, &err) == NULL);
    char where[96];
    snprintf(where, sizeof where, "%s:2", path);
    CHECK(strstr(err.message, where) != NULL);
    CHECK(strstr(err.message, "mystery") != NULL);
    unlink(path);

    path = write_file("port 8001\n");
    CHECK(load_args(2, argv, false, &err) == NULL);
    CHECK(strstr(err.message, "not `key = value`") != NULL);
    unlink(path);

    path = write_file("port = 0\n");
    CHECK(load_args(2, argv, false, &err) == NULL);
    CHECK(strstr(err.message, "out of range") != NULL);
    unlink(path);

    char *missing[] = {"--config", "/nonexistent/kiln.conf"};
    CHECK(load_args(2, missing, false, &err) == NULL);
    CHECK(strstr(err.message, "cannot read config file") != NULL);
}

UNIT_TEST(base_layer_below_file)
{
    KilnConfigLayer base = {0};
    KilnError err = {0};
    CHECK(config_layer_set(&base, "port", "9001", &err));
    CHECK(config_layer_set(&base, "jwt_secret", SECRET, &err)); /* retired: a warning */
    CHECK(config_layer_set(&base, "db_url", "host=/tmp", &err));
    CHECK(!config_layer_set(&base, "nope", "1", &err));
    KilnConfigLayer flags = {0};
    char *argv[] = {"--port", "9002"};
    CHECK(config_layer_parse_args(&flags, 2, argv, &err));
    KilnConfig *cfg = NULL;
    CHECK(config_load(&base, &flags, true, &cfg, &err));
    if (cfg) {
        CHECK(cfg->port == 9002);
        CHECK(cfg->warnings && strstr(cfg->warnings, "jwt_secret (the built-in settings)"));
        config_release(cfg);
    }
    config_layer_free(&base);
    config_layer_free(&flags);
}

UNIT_TEST(print_masks_secrets)
{
    KilnError err = {0};
    char *argv[] = {"--db-url", "postgresql://kiln:hunter2-db-password@db.example/app"};
    KilnConfig *cfg = load_args(2, argv, false, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    config_print(cfg, f);
    fclose(f);
    CHECK(strstr(text, "hunter2") == NULL);
    CHECK(strstr(text, "db_url = ********") != NULL);
    CHECK(strstr(text, "port = 8000") != NULL);
    free(text);
    config_release(cfg);
}

UNIT_TEST(restart_keys_lists_only_non_reloadable_changes)
{
    KilnError err = {0};
    char *a[] = {"--port", "8001", "--log-level", "info"};
    char *b[] = {"--port", "8002", "--log-level", "debug"};
    KilnConfig *ca = load_args(4, a, false, &err), *cb = load_args(4, b, false, &err);
    CHECK(ca && cb);
    if (ca && cb) {
        char keys[256];
        CHECK(config_restart_keys(ca, cb, keys, sizeof keys));
        CHECK_STR_EQ(keys, "port");
        CHECK(!config_restart_keys(ca, ca, keys, sizeof keys));
    }
    config_release(ca);
    config_release(cb);
}

UNIT_TEST(snapshot_install_and_refcount)
{
    KilnError err = {0};
    KilnConfig *cfg = load_args(0, NULL, false, &err);
    config_install(cfg);
    KilnConfig *cur = config_current();
    CHECK(cur == cfg);
    config_install(NULL); /* drops the installed reference; ours keeps it alive */
    CHECK(cur->port == 8000);
    config_release(cur);
    CHECK(config_current() == NULL);
}

UNIT_MAIN()
