#include "image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image-meta.h"
#include "lazy.h"
#include "options.h"
#include "path.h"
#include "store.h"
#include "util.h"

/* "bb" means "bb:latest", as with podman and docker. */
static char *full_name(const char *name)
{
	const char *slash = strrchr(name, '/');

	return strchr(slash ? slash : name, ':') ? xstrdup(name) : xasprintf("%s:latest", name);
}

/* The record of image NAME, read and checked. */
static int load(const struct store *s, const char *name, struct image_record *rec, struct herr *e)
{
	_cleanup_free_ char *full = full_name(name), *path = store_record(s, full), *buf = NULL;
	size_t len;

	if (access(path, F_OK) < 0 && errno == ENOENT) {
		herr_set(e, 0, "image %s: not in the store", full);
		return herr_hint(
		    e, "see 'hutch image ls'; import one with 'hutch image import SOURCE NAME'");
	}
	if (store_read_record(path, &buf, &len, e) < 0 ||
	    image_record_read(path, buf, len, rec, e) < 0)
		return herr_hint(e, "import the image again");
	return 0;
}

static int cmd_ls(struct herr *e)
{
	struct store s = {0};
	_cleanup_free_ char *dir = NULL;
	struct dirent **list = NULL;
	int n;

	if (store_open(&s, false, e) < 0)
		return store_close(&s), -1;
	dir = xasprintf("%s/images", s.root);
	n = scandir(dir, &list, NULL, alphasort);
	printf("%-32s %-19s %s\n", "NAME", "ID", "LAYERS");
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, list[i]->d_name), *buf = NULL;
		size_t len = strlen(list[i]->d_name);
		struct image_record rec;
		struct herr ignored = {0};

		/* a record that cannot be read is left out here; run and inspect say why */
		if (len > 5 && strcmp(list[i]->d_name + len - 5, ".json") == 0 &&
		    store_read_record(path, &buf, &len, &ignored) == 0 &&
		    image_record_read(path, buf, len, &rec, &ignored) == 0) {
			printf("%-32s %-19.19s %zu\n", rec.name ? rec.name : "?",
			       rec.id ? rec.id : "?", rec.n_layers);
			image_record_free(&rec);
		}
		free(list[i]);
	}
	free(list);
	store_close(&s);
	return 0;
}

static int cmd_inspect(const char *name, struct herr *e)
{
	struct store s = {0};
	_cleanup_free_ char *full = full_name(name), *path = NULL, *buf = NULL;
	struct image_record rec;
	json_object *doc;
	size_t len;

	if (store_open(&s, false, e) < 0 || load(&s, name, &rec, e) < 0)
		return store_close(&s), -1;
	image_record_free(&rec);
	path = store_record(&s, full);
	if (store_read_record(path, &buf, &len, e) < 0 ||
	    image_json_parse(path, buf, len, 0, &doc, e) < 0)
		return store_close(&s), -1;
	puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY));
	json_object_put(doc);
	store_close(&s);
	return 0;
}

/*
 * Image files belong to the ids the sandbox sees them as when the caller is root inside: the
 * caller for root's, the subordinate range for the others. Only the keeper's namespace, which
 * holds that range, may chown to them or remove them: join it (user.c), and give the map.
 */
int image_owners(struct ids *ids, struct owners *own, struct herr *e)
{
	struct plan p;
	int r;

	plan_init(&p);
	p.has_uid = p.has_gid = true; /* the caller is root inside, as `run --image` maps it */
	r = user_prepare(&p, ids, e);
	plan_free(&p);
	own->uids = &ids->uidmap;
	own->gids = &ids->gidmap;
	return r;
}

static int cmd_rm(const char *name, struct herr *e)
{
	struct store s = {0};
	struct ids ids = {.keeper_netns = -1, .keeper_ipcns = -1, .keeper_conn = -1};
	struct owners own;
	_cleanup_free_ char *full = full_name(name), *path = NULL;

	if (image_owners(&ids, &own, e) < 0 || store_open(&s, true, e) < 0) {
		user_free(&ids);
		return store_close(&s), -1;
	}
	user_free(&ids);
	path = store_record(&s, full);
	if (unlink(path) < 0) {
		herr_set(e, errno, "image rm %s", full);
		store_close(&s);
		return -1;
	}
	store_gc(&s);
	printf("removed %s\n", full);
	store_close(&s);
	return 0;
}

static const char usage[] = "hutch: usage: hutch image import [--max-image-size SIZE] SOURCE "
			    "[NAME[:TAG]] | ls | rm NAME | inspect NAME\n";

/* hutch image import [OPTIONS] SOURCE [NAME]: the options are rows of the option table. */
static int cmd_import(int argc, char **argv, struct herr *e)
{
	struct plan p;
	int i = 0, r = -1;

	plan_init(&p);
	if (options_parse_import(&p, argc, argv, &i, e) < 0)
		goto out;
	if (argc - i != 1 && argc - i != 2) {
		herr_set(e, 0, "image import: expected SOURCE [NAME[:TAG]]");
		herr_hint(e, "usage: hutch image import [--max-image-size SIZE] SOURCE [NAME]");
		goto out;
	}
	if (lazy_require(&lazy_archive, e) < 0 || lazy_require(&lazy_crypto, e) < 0)
		goto out;
	r = image_import(argv[i], argc - i == 2 ? argv[i + 1] : NULL, p.max_image_size, e);
out:
	plan_free(&p);
	return r;
}

int image_main(int argc, char **argv)
{
	struct herr e = {0};
	const char *verb = argc > 0 ? argv[0] : "";
	int r;

	if (strcmp(verb, "import") == 0 && argc >= 2)
		r = cmd_import(argc - 1, argv + 1, &e);
	else if (strcmp(verb, "ls") == 0 && argc == 1)
		r = cmd_ls(&e);
	else if (strcmp(verb, "rm") == 0 && argc == 2)
		r = cmd_rm(argv[1], &e);
	else if (strcmp(verb, "inspect") == 0 && argc == 2)
		r = cmd_inspect(argv[1], &e);
	else {
		fputs(usage, stderr);
		return EXIT_SETUP;
	}
	if (r < 0)
		herr_report(&e);
	return r < 0 ? EXIT_SETUP : 0;
}

/* ---- hutch run --image ---- */

/* Look NAME up in the image's FILE (etc/passwd or etc/group), top layer first: field 3 (the
 * id) and, for passwd, field 4 (the group). */
static bool lookup(const struct plan *p, const char *file, const char *name, unsigned *id,
		   unsigned *gid, char **home)
{
	for (size_t i = 0; i < p->n_layers; i++) {
		_cleanup_close_ int root = open(p->layers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		int fd = root < 0 ? -1 : path_open(root, file, O_RDONLY);
		FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
		char line[1024];
		bool found = false;

		if (!f) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while (!found && fgets(line, sizeof(line), f)) {
			/* strsep, not strtok: empty fields (the gecos) must keep their place */
			char *rest = line, *user = strsep(&rest, ":"), *pass = strsep(&rest, ":");
			char *u = strsep(&rest, ":"), *g = strsep(&rest, ":");

			if (user && pass && u &&
			    (strcmp(user, name) == 0 || strcmp(u, name) == 0)) {
				if (home && rest) {
					strsep(&rest, ":"); /* gecos */
					char *h = strsep(&rest, ":");
					if (h && h[0] == '/')
						*home = xstrdup(h);
				}
				*id = (unsigned)strtoul(u, NULL, 10);
				if (gid && g)
					*gid = (unsigned)strtoul(g, NULL, 10);
				found = true;
			}
		}
		fclose(f);
		return found;
	}
	return false;
}

static int numeric_or(const struct plan *p, const char *file, const char *s, unsigned *id,
		      unsigned *gid, struct herr *e)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	/* by name, or by number (which also gives the user's group) */
	if (lookup(p, file, s, id, gid, NULL))
		return 0;
	if (s[0] && !*end) {
		*id = (unsigned)v;
		return 0;
	}
	return herr_set(e, 0, "image %s: User '%s' is not in its /%s", p->image, s, file);
}

/* HOME: the User's home from the image's /etc/passwd, unless --setenv gave one. */
static void set_home(struct plan *p)
{
	_cleanup_free_ char *home = NULL, *uid = xasprintf("%u", (unsigned)p->image_uid);
	unsigned ignored;

	for (size_t i = 0; i < p->n_env; i++)
		if (strcmp(p->env[i].name, "HOME") == 0)
			return;
	if (lookup(p, "etc/passwd", uid, &ignored, NULL, &home) && home)
		plan_add_env(p, "HOME", home);
}

/* User is "user", "uid", "user:group" or "uid:gid"; the caller's ids become those inside. */
static int apply_user(struct plan *p, const char *user, struct herr *e)
{
	/* --uid N replaces the User (and, without --gid, takes N's group from the passwd) */
	_cleanup_free_ char *u =
	    p->has_uid ? xasprintf("%u", (unsigned)p->uid) : xstrdup(user && user[0] ? user : "0");
	char *colon = strchr(u, ':');
	unsigned uid = 0, gid = 0;

	if (colon)
		*colon = 0;
	if (numeric_or(p, "etc/passwd", u, &uid, colon ? NULL : &gid, e) < 0 ||
	    (colon && numeric_or(p, "etc/group", colon + 1, &gid, NULL, e) < 0))
		return -1;
	/* Layers are owned as the sandbox sees them when the caller is root inside (image-import.c
	 * unpacks them so); the command then becomes the User (or --uid/--gid) before exec. */
	p->image_user = true;
	p->image_uid = p->has_uid ? p->uid : uid;
	p->image_gid = p->has_gid ? p->gid : gid;
	set_home(p);
	p->has_uid = p->has_gid = true;
	p->uid = 0;
	p->gid = 0;
	return 0;
}

int image_become_user(const struct plan *p, struct herr *e)
{
	cap_t c;
	int r;

	if (!p->image_user || (p->image_uid == 0 && p->image_gid == 0))
		return 0;
	/* keep the capabilities through setresuid: caps_drop still needs CAP_SETPCAP */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ||
	    setgroups(p->n_oci_groups, p->oci_groups) < 0 ||
	    setresgid(p->image_gid, p->image_gid, p->image_gid) < 0 ||
	    setresuid(p->image_uid, p->image_uid, p->image_uid) < 0) {
		herr_set(e, errno, "image %s: cannot become uid %u gid %u", p->image,
			 (unsigned)p->image_uid, (unsigned)p->image_gid);
		return herr_hint(e, "ids other than yours need a subordinate range (see ID MAPPING "
				    "in hutch(1))");
	}
	c = cap_get_proc();
	if (!c)
		return herr_set(e, errno, "cap_get_proc");
	for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; cap++) {
		cap_flag_value_t v = CAP_CLEAR;
		if (cap_get_flag(c, cap, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
			cap_set_flag(c, CAP_EFFECTIVE, 1, &cap, CAP_SET);
	}
	r = cap_set_proc(c);
	cap_free(c);
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return r < 0 ? herr_set(e, errno, "cannot keep capabilities as uid %u", p->image_uid) : 0;
}

static void add_strings(struct plan *p, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		plan_add_str(&p->image_argv, &p->n_image_argv, v[i]);
}

/* Entrypoint + (the command line, or Cmd); the image's Env before --setenv. */
static void apply_config(struct plan *p, const struct image_run *cfg, int argc, char **argv)
{
	size_t n_user = p->n_env;
	struct env_req *user = p->env;

	add_strings(p, cfg->entrypoint, cfg->n_entrypoint);
	if (argc > 0)
		add_strings(p, argv, (size_t)argc);
	else
		add_strings(p, cfg->cmd, cfg->n_cmd);
	p->image_argv = xreallocarray(p->image_argv, p->n_image_argv + 1, sizeof(char *));
	p->image_argv[p->n_image_argv] = NULL;
	p->argv = p->image_argv;
	p->env = NULL;
	p->n_env = 0;
	for (size_t i = 0; i < cfg->n_env; i++) {
		_cleanup_free_ char *kv = xstrdup(cfg->env[i]);
		char *eq = strchr(kv, '=');

		if (eq && eq != kv) {
			*eq = 0;
			plan_add_env(p, kv, eq + 1);
		}
	}
	for (size_t i = 0; i < n_user; i++) {
		plan_add_env(p, user[i].name, user[i].value);
		free(user[i].name);
		free(user[i].value);
	}
	free(user);
	if (!p->chdir && cfg->workdir && cfg->workdir[0] == '/')
		p->chdir = xstrdup(cfg->workdir);
}

int image_apply(struct plan *p, int argc, char **argv, struct herr *e)
{
	struct store s = {0};
	struct image_record rec;
	int r = -1;

	if (p->persist && !p->image && !p->n_layers) {
		herr_set(e, 0, "--persist %s: there is no overlay root to keep", p->persist);
		return herr_hint(e, "use it with --rootfs or --image");
	}
	if (!p->image)
		return 0;
	if (store_open(&s, false, e) < 0 || load(&s, p->image, &rec, e) < 0)
		return store_close(&s), -1;
	/* overlayfs wants the top-most layer first; the record lists them bottom first */
	for (size_t i = rec.n_layers; i-- > 0;) {
		_cleanup_free_ char *dir = store_layer(&s, rec.layers[i]);
		plan_add_str(&p->layers, &p->n_layers, dir);
	}
	apply_config(p, &rec.run, argc, argv);
	if (!p->argv[0]) {
		herr_set(e, 0, "image %s has no Entrypoint or Cmd", p->image);
		herr_hint(e, "give the command: hutch run --image %s -- COMMAND", p->image);
		goto out;
	}
	r = apply_user(p, rec.run.user, e);
out:
	image_record_free(&rec);
	/* the lock's fd stays open (close-on-exec) until this process exits */
	s.lock = -1;
	store_close(&s);
	return r;
}
