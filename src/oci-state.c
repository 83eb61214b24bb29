/* STATEDIR/ID/state.json: what `create` learnt, for the commands that come after it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "oci.h"
#include "util.h"

/* Field 22 of /proc/PID/stat: a pid reused by another process has another start time. Field
 * 3, the state: a zombie is gone already (its parent has not reaped it yet). */
static unsigned long long stat_of(pid_t pid, char *state)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/stat", (int)pid);
	unsigned long long t = 0;
	char buf[1024], *p;
	FILE *f = fopen(path, "re");
	size_t n;

	*state = 0;
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
	if (!p || !p[1] || !p[2])
		return 0;
	*state = p[2];
	/* after ") " come fields 3..: skip 19 of them to reach field 22 */
	for (int i = 0; i < 20 && p; i++)
		p = strchr(p + 1, ' ');
	if (p)
		sscanf(p + 1, "%llu", &t);
	return t;
}

unsigned long long oci_proc_start_time(pid_t pid)
{
	char state;

	return stat_of(pid, &state);
}

bool oci_proc_alive(pid_t pid, unsigned long long start_time)
{
	char state;
	unsigned long long t = pid > 0 ? stat_of(pid, &state) : 0;

	return t != 0 && (start_time == 0 || t == start_time) && state != 'Z' && state != 'X';
}

static bool alive(const struct oci_state *s)
{
	return s->start_time != 0 && oci_proc_alive(s->pid, s->start_time);
}

const char *oci_state_status(const struct oci_state *s)
{
	if (!alive(s))
		return "stopped";
	return s->started ? "running" : "created";
}

json_object *oci_state_json(const struct oci_state *s)
{
	json_object *o = json_object_new_object();
	const char *status = oci_state_status(s);

	json_object_object_add(o, "ociVersion", json_object_new_string("1.0.2"));
	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "pid",
			       json_object_new_int(strcmp(status, "stopped") == 0 ? 0 : s->pid));
	json_object_object_add(o, "bundle", json_object_new_string(s->bundle));
	json_object_object_add(o, "created", json_object_new_string(s->created));
	json_object_object_add(o, "annotations",
			       s->annotations ? json_object_get(s->annotations)
					      : json_object_new_object());
	return o;
}

int oci_state_write(const char *dir, const struct oci_state *s, struct herr *e)
{
	_cleanup_free_ char *tmp = xasprintf("%s/state.json.tmp", dir);
	_cleanup_free_ char *path = xasprintf("%s/state.json", dir);
	json_object *o = oci_state_json(s);
	int r;

	json_object_object_add(o, "pid", json_object_new_int(s->pid));
	json_object_object_add(o, "hutch.monitor", json_object_new_int(s->monitor));
	json_object_object_add(o, "hutch.startTime", json_object_new_uint64(s->start_time));
	json_object_object_add(o, "hutch.started", json_object_new_boolean(s->started));
	if (s->home)
		json_object_object_add(o, "hutch.home", json_object_new_string(s->home));
	json_object_object_del(o, "status"); /* always computed afresh */
	/* write and rename: a reader never sees half a file */
	r = json_object_to_file_ext(tmp, o,
				    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	json_object_put(o);
	if (r < 0 || rename(tmp, path) < 0)
		return herr_set(e, errno, "cannot write %s", path);
	return 0;
}

int oci_state_read(const char *dir, const char *id, struct oci_state *s, struct herr *e)
{
	_cleanup_free_ char *path = xasprintf("%s/state.json", dir);
	json_object *o = json_object_from_file(path), *v;

	memset(s, 0, sizeof(*s));
	if (!o) {
		if (errno == ENOENT || access(dir, F_OK) < 0)
			return herr_set(e, 0, "container \"%s\" does not exist", id);
		return herr_set(e, 0, "%s: unreadable state: %s", path, json_util_get_last_err());
	}
	s->id = xstrdup(id);
	s->bundle =
	    xstrdup(json_object_object_get_ex(o, "bundle", &v) ? json_object_get_string(v) : "");
	s->created =
	    xstrdup(json_object_object_get_ex(o, "created", &v) ? json_object_get_string(v) : "");
	if (json_object_object_get_ex(o, "pid", &v))
		s->pid = json_object_get_int(v);
	if (json_object_object_get_ex(o, "hutch.monitor", &v))
		s->monitor = json_object_get_int(v);
	if (json_object_object_get_ex(o, "hutch.startTime", &v))
		s->start_time = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "hutch.started", &v))
		s->started = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "hutch.home", &v))
		s->home = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "annotations", &v))
		s->annotations = json_object_get(v);
	json_object_put(o);
	return 0;
}

void oci_state_free(struct oci_state *s)
{
	free(s->id);
	free(s->bundle);
	free(s->created);
	free(s->home);
	json_object_put(s->annotations);
	memset(s, 0, sizeof(*s));
}
