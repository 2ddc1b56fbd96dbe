/* kaigi-recorder.c — one mixed recording of a room
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A recorder is a bin in its room's pipeline that exists only while the
 * recording runs: a compositor and an audiomixer fed by decoding branches
 * hung off the participants' track tees, an H.264 and an AAC encoder, and
 * an mp4mux writing fragments to ROOM-YYYYmmdd-HHMMSS.mp4.part,
 * renamed to .mp4 once finalized. See kaigi_media_make_recorder_bin() for the graph.
 *
 * Branches are always unlinked from a tee behind an IDLE probe before they
 * stop: a branch that returned EOS or FLUSHING into a tee would stop the
 * publisher's track for every subscriber.
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <gst/audio/audio.h>
#include <gst/base/gstaggregator.h>
#include <gst/controller/controller.h>
#include <gst/video/video.h>

#include "kaigi-recorder.h"
#include "kaigi-config.h"
#include "kaigi-layout.h"
#include "kaigi-task-pool.h"

GST_DEBUG_CATEGORY_STATIC (kaigi_recorder_debug);
#define GST_CAT_DEFAULT kaigi_recorder_debug

/* How often the threads of GLib's shared pool are looked at (s), see
 * lower_pool_threads() */
#define POOL_SWEEP_S 1

/* Give up waiting for the muxer to finish once it has written nothing
 * to the file for this long (s), and keep the file as its last
 * fragment left it, as `.mp4.part`. While it moves on, the wait goes on:
 * on a machine too busy for the recorder (three Chromium pages and a
 * busy loop on two cores) the encoders were 6 s behind at the stop, and
 * a fixed 10 s cut the file off in the middle of its last fragment */
#define FINISH_TIMEOUT_S 10

/* Name plates: a sixth of the picture's height, within these bounds
 * (pixels of the composite), as wide as the plate's own 200×32 picture
 * says */
#define LABEL_MIN_HEIGHT 24
#define LABEL_MAX_HEIGHT 40

typedef enum
{
  STATE_RUNNING,
  STATE_STOPPING,
  STATE_FINISHED,
} RecorderState;

typedef struct _Tile Tile;

typedef struct
{
  KaigiRecorder *recorder;  /* not owned; outlives the branch */
  Tile *tile;               /* not owned; gone before a retired branch */
  KaigiTrackKind kind;
  GstElement *tee;
  GstPad *tee_pad;
  GstElement *bin;
  GstPad *entry;          /* ghost pad of the recorder bin, linked to the tee */
  GstPad *mix_pad;
  gboolean detaching;
  gboolean has_picture;   /* a decoded frame reached the compositor */
  gint64 attached;        /* when, monotonic (µs) */
  int broken;             /* atomic: the branch returned an error */
} Branch;

struct _Tile
{
  KaigiRecorder *recorder;
  char *id;
  char *name;
  gboolean audio;
  gboolean video;
  GstElement *placeholder;
  GstPad *placeholder_pad;
  GstElement *label;
  GstPad *label_pad;
  Branch *branch[KAIGI_N_TRACK_KINDS];
};

struct _KaigiRecorder
{
  GObject parent_instance;

  GMainContext *context;
  KaigiConfig *config;
  char *id;
  char *room;
  char *file;
  char *path;
  char *part_path;
  char *sidecar_path;
  GDateTime *started;

  GstBin *pipeline;
  GstElement *bin;
  GstElement *vmix;
  GstElement *amix;
  /* Running times (ns) under the bin's object lock, signalled by
   * origin_cond: */
  GstClockTime start_time;    /* when begin() was called, NONE before */
  GstClockTime frame_zero;    /* the composite's first frame; its frames are
                               * at frame_zero + n/F */
  GstClockTime origin;        /* where the file starts: the first frame from
                               * start_time on; NONE (nothing passes) until
                               * both are known */
  GstClockTime first_frame_made; /* when the file's first frame was made,
                               * NONE until it has passed (copies of it
                               * fill the file before) */
  gboolean audio_waited;      /* the audio no longer waits for it */
  GstClockTime stop_time;     /* NONE while running */
  GstClockTime composite_position; /* the composite's last frame */
  guint sources_starting;     /* placeholders and name plates made before
                               * the origin, without a first picture yet */
  GstClockTime sources_ready; /* when the last of them had one, NONE before */
  gboolean stopping;          /* no more waiting for the origin */
  GCond origin_cond;
  GstClockTime audio_delay;   /* the AAC encoder's delay (ns): audio is fed
                               * that early */

  /* Written on streaming threads under the object lock */
  GstClockTime first_time;
  GstClockTime last_time;
  guint64 bytes_written;      /* what the muxer gave the file */
  /* Main context: bytes_written when the stop's wait last looked */
  guint64 finish_progress;

  /* The video encoder's input thread only (report_lateness()) */
  GstClockTime qos_last_running;
  GstClockTime qos_last_now;
  gdouble qos_proportion;     /* wall time per media time, averaged */

  GPtrArray *tiles;
  GPtrArray *retired;         /* Branch of participants who left */
  GPtrArray *events;
  char *main_id;

  RecorderState state;
  guint pending_detaches;
  guint finish_timeout;
  gboolean writer_hung;       /* the muxer wrote nothing for 10 s */
  gboolean closing;           /* the graph goes to NULL (close_graph()) */
  gint64 close_started;       /* monotonic µs */
  gboolean sweeping;          /* holds the process's pool sweep */
  GError *error;
  gint64 duration_ms;
};

G_DEFINE_FINAL_TYPE (KaigiRecorder, kaigi_recorder, G_TYPE_OBJECT)

enum
{
  SIGNAL_FINISHED,
  SIGNAL_AUDIO_LEVEL,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* How long the audio waits for the composite's first frame to learn
 * where the file starts: it comes within the mixers' latency, or
 * %SOURCES_WAIT later */
#define ORIGIN_WAIT (1 * GST_SECOND)

/* How long (ns of composite time) the file's first frame waits, after
 * begin(), for the tiles' placeholders and name plates to draw their
 * first picture. The file still starts at the request: copies of that
 * frame fill the file up to it (show_from_start()). On a loaded machine (three Chromium pages and
 * the server on two cores), they took 145–344 ms; the 400 ms this was
 * before, when the file's start itself waited, ran out on CI and left a
 * tile black in the first frame. */
#define SOURCES_WAIT (2 * GST_SECOND)

/* How late (ns) a composite frame may reach the H.264 encoder, beyond the
 * compositor's latency, before the compositor is told to skip frames: a
 * short burst (a keyframe, a participant joining) is absorbed by the
 * encoder's queue */
#define QOS_SLACK (500 * GST_MSECOND)

static void apply_layout (KaigiRecorder *self);
static void finish (KaigiRecorder *self);
static void feed_audio_early (KaigiRecorder *self);
static void stop_sweeping (KaigiRecorder *self);
static GstPadProbeReturn keep_start_to_stop (GstPad          *pad,
                                             GstPadProbeInfo *info,
                                             gpointer         user_data);

static GstClockTime
running_time_now (KaigiRecorder *self)
{
  g_autoptr(GstClock) clock = gst_element_get_clock (GST_ELEMENT (self->pipeline));

  if (clock == NULL)
    return 0;
  return gst_clock_get_time (clock) - gst_element_get_base_time (GST_ELEMENT (self->pipeline));
}

/* Any thread: the running time of the composite's last frame, NONE
 * before the first */
static GstClockTime
get_composite_position (KaigiRecorder *self)
{
  GstClockTime running;

  GST_OBJECT_LOCK (self->bin);
  running = self->composite_position;
  GST_OBJECT_UNLOCK (self->bin);
  return running;
}

static void
branch_free (Branch *branch)
{
  gst_clear_object (&branch->tee);
  gst_clear_object (&branch->tee_pad);
  gst_clear_object (&branch->bin);
  gst_clear_object (&branch->entry);
  gst_clear_object (&branch->mix_pad);
  g_free (branch);
}

static void
tile_free (Tile *tile)
{
  guint i;

  for (i = 0; i < KAIGI_N_TRACK_KINDS; i++)
    g_clear_pointer (&tile->branch[i], branch_free);
  gst_clear_object (&tile->placeholder);
  gst_clear_object (&tile->placeholder_pad);
  gst_clear_object (&tile->label);
  gst_clear_object (&tile->label_pad);
  g_free (tile->id);
  g_free (tile->name);
  g_free (tile);
}

/* Main context, before the bin stops: audio waiting in keep_start_to_stop()
 * for the origin gives up at once */
static void
stop_waiting (KaigiRecorder *self)
{
  GST_OBJECT_LOCK (self->bin);
  self->stopping = TRUE;
  g_cond_broadcast (&self->origin_cond);
  GST_OBJECT_UNLOCK (self->bin);
}

static void
kaigi_recorder_dispose (GObject *object)
{
  KaigiRecorder *self = KAIGI_RECORDER (object);

  g_clear_handle_id (&self->finish_timeout, g_source_remove);
  stop_sweeping (self);
  if (self->bin)
    {
      stop_waiting (self);
      gst_element_set_state (self->bin, GST_STATE_NULL);
      if (GST_OBJECT_PARENT (self->bin) == GST_OBJECT (self->pipeline))
        gst_bin_remove (self->pipeline, self->bin);
    }
  g_clear_pointer (&self->tiles, g_ptr_array_unref);
  g_clear_pointer (&self->retired, g_ptr_array_unref);
  gst_clear_object (&self->vmix);
  gst_clear_object (&self->amix);
  gst_clear_object (&self->bin);
  gst_clear_object (&self->pipeline);

  G_OBJECT_CLASS (kaigi_recorder_parent_class)->dispose (object);
}

static void
kaigi_recorder_finalize (GObject *object)
{
  KaigiRecorder *self = KAIGI_RECORDER (object);

  kaigi_config_free (self->config);
  g_free (self->id);
  g_free (self->room);
  g_free (self->file);
  g_free (self->path);
  g_free (self->part_path);
  g_free (self->sidecar_path);
  g_free (self->main_id);
  g_clear_pointer (&self->started, g_date_time_unref);
  g_clear_pointer (&self->events, g_ptr_array_unref);
  g_clear_error (&self->error);
  g_main_context_unref (self->context);
  g_cond_clear (&self->origin_cond);

  G_OBJECT_CLASS (kaigi_recorder_parent_class)->finalize (object);
}

static void
kaigi_recorder_class_init (KaigiRecorderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kaigi_recorder_dispose;
  object_class->finalize = kaigi_recorder_finalize;

  /**
   * KaigiRecorder::finished:
   * @recorder: the recorder
   * @duration_ms: the file's duration (ms)
   * @error: (nullable) (type GError): why it stopped early, or %NULL for a
   *   clean stop
   *
   * The recording is over and its file final (renamed to `.mp4` on a
   * clean stop; left as `.mp4.part`, still playable, after an error).
   * Emitted once, on the main context.
   */
  signals[SIGNAL_FINISHED] =
    g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_INT64, G_TYPE_POINTER);

  /**
   * KaigiRecorder::audio-level:
   * @recorder: the recorder
   * @id: the participant's id
   * @level: the RFC 6464 level (0 … 127, −dBov) of their decoded audio
   *   over the last 100 ms, from the mix's `level` meters
   *
   * For the speaker detection of clients that send no RFC 6464 header
   * extension. Main context.
   */
  signals[SIGNAL_AUDIO_LEVEL] =
    g_signal_new ("audio-level", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_UINT);

  GST_DEBUG_CATEGORY_INIT (kaigi_recorder_debug, "kaigi-recorder", 0, "Kaigi recorder");
}

static void
kaigi_recorder_init (KaigiRecorder *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->tiles = g_ptr_array_new_with_free_func ((GDestroyNotify) tile_free);
  self->retired = g_ptr_array_new_with_free_func ((GDestroyNotify) branch_free);
  self->events = g_ptr_array_new_with_free_func ((GDestroyNotify) kaigi_timeline_event_free);
  self->first_time = GST_CLOCK_TIME_NONE;
  self->start_time = GST_CLOCK_TIME_NONE;
  self->frame_zero = GST_CLOCK_TIME_NONE;
  self->origin = GST_CLOCK_TIME_NONE;
  self->first_frame_made = GST_CLOCK_TIME_NONE;
  self->sources_ready = GST_CLOCK_TIME_NONE;
  self->stop_time = GST_CLOCK_TIME_NONE;
  self->composite_position = GST_CLOCK_TIME_NONE;
  self->qos_last_running = GST_CLOCK_TIME_NONE;
  self->qos_last_now = GST_CLOCK_TIME_NONE;
  self->qos_proportion = 1.0;
  g_cond_init (&self->origin_cond);
  self->last_time = GST_CLOCK_TIME_NONE;
  self->duration_ms = -1;
}

/**
 * kaigi_recording_make_file_name:
 * @room: the room's name
 * @time: when the recording starts (its local time is used)
 *
 * Builds `ROOM-YYYYmmdd-HHMMSS.mp4`, with the room name made safe for a
 * file name: '/', '\\', ':', '*', '?', '"', '<', '>', '|' and control
 * characters become '_', and so does a leading '.', so the name never
 * leaves the recordings folder nor hides. Other characters (Japanese
 * names…) stay. Pure function; any thread.
 *
 * Returns: (transfer full): the file name
 */
char *
kaigi_recording_make_file_name (const char *room,
                                GDateTime  *time)
{
  g_autoptr(GString) name = g_string_new (NULL);
  g_autofree char *stamp = g_date_time_format (time, "%Y%m%d-%H%M%S");
  const char *p;

  for (p = room; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c < 0x20 || c == 0x7f || g_unichar_type (c) == G_UNICODE_CONTROL ||
          strchr ("/\\:*?\"<>|", (int) c) != NULL || (c == '.' && p == room))
        g_string_append_c (name, '_');
      else
        g_string_append_unichar (name, c);
    }
  g_string_append_printf (name, "-%s.mp4", stamp);
  return g_string_free (g_steal_pointer (&name), FALSE);
}

/* Streaming threads: the running time of @buffer on @pad, or NONE */
static GstClockTime
buffer_running_time (GstPad    *pad,
                     GstBuffer *buffer)
{
  g_autoptr(GstEvent) event = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);
  const GstSegment *segment;

  if (event == NULL || !GST_BUFFER_PTS_IS_VALID (buffer))
    return GST_CLOCK_TIME_NONE;
  gst_event_parse_segment (event, &segment);
  return gst_segment_to_running_time (segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buffer));
}

/* The video encoder's input thread: keeps the recording in real time on
 * a machine too busy to compose and encode every frame. A frame reaching
 * the encoder later than when the compositor should have made it (its
 * running time plus the compositor's latency) by more than %QOS_SLACK
 * means that composing and encoding fall behind the wall clock. A QoS
 * event, as a synchronising sink sends (GstQOS in the GStreamer design
 * docs), then tells the compositor to skip its next frame, or its next
 * two beyond twice %QOS_SLACK: the picture never stops for more than
 * 100 ms at 30 fps, and composing and encoding get up to three times the
 * time per frame. The file keeps the wall clock's time with fewer frames,
 * instead of falling further behind until the stop cuts it short. */
static GstPadProbeReturn
report_lateness (GstPad          *pad,
                 GstPadProbeInfo *info,
                 gpointer         user_data)
{
  KaigiRecorder *self = user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime running = buffer_running_time (pad, buffer);
  GstClockTime now = running_time_now (self);
  GstClockTime latency = gst_aggregator_get_latency (GST_AGGREGATOR (self->vmix));
  GstClockTime frame = GST_SECOND / self->config->recording_framerate;
  GstClockTime first_made;
  GstClockTime position;
  GstClockTimeDiff late;
  g_autoptr(GstPad) compositor_src = NULL;
  guint64 skip;

  if (!GST_CLOCK_TIME_IS_VALID (running) || !GST_CLOCK_TIME_IS_VALID (latency))
    return GST_PAD_PROBE_OK;

  GST_OBJECT_LOCK (self->bin);
  first_made = self->first_frame_made;
  GST_OBJECT_UNLOCK (self->bin);
  /* The copies of the file's first frame that show it from the start
   * come up to SOURCES_WAIT late by design */
  if (GST_CLOCK_TIME_IS_VALID (first_made) && running < first_made)
    return GST_PAD_PROBE_OK;

  if (GST_CLOCK_TIME_IS_VALID (self->qos_last_running) && running > self->qos_last_running)
    {
      gdouble rate = (gdouble) (now - self->qos_last_now) / (gdouble) (running - self->qos_last_running);

      self->qos_proportion = (self->qos_proportion * 7.0 + rate) / 8.0;
    }
  self->qos_last_running = running;
  self->qos_last_now = now;

  late = GST_CLOCK_DIFF (running + latency, now);
  if (late <= (GstClockTimeDiff) QOS_SLACK)
    return GST_PAD_PROBE_OK;

  position = get_composite_position (self);
  if (!GST_CLOCK_TIME_IS_VALID (position))
    return GST_PAD_PROBE_OK;

  /* Frames after @position up to and including position + skip frames
   * are dropped (videoaggregator drops a frame whose start is before
   * timestamp + diff) */
  skip = late > 2 * (GstClockTimeDiff) QOS_SLACK ? 2 : 1;
  GST_DEBUG_OBJECT (pad, "frame at %" GST_TIME_FORMAT " is %" G_GINT64_FORMAT
                    " ms late: the compositor skips %" G_GUINT64_FORMAT " frames after %"
                    GST_TIME_FORMAT, GST_TIME_ARGS (running), late / GST_MSECOND, skip,
                    GST_TIME_ARGS (position));
  compositor_src = gst_element_get_static_pad (self->vmix, "src");
  gst_pad_send_event (compositor_src,
                      gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW, self->qos_proportion,
                                         (GstClockTimeDiff) (skip * frame + frame / 2), position));
  return GST_PAD_PROBE_OK;
}

/* The compositor passes a QoS event on to all its inputs, where decoders
 * would drop more frames than the compositor skips (GstVideoDecoder
 * counts a positive lateness twice, plus a frame): it ends there */
static GstPadProbeReturn
keep_qos_in_compositor (GstPad          *pad,
                        GstPadProbeInfo *info,
                        gpointer         user_data)
{
  return GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_QOS ? GST_PAD_PROBE_DROP
                                                                           : GST_PAD_PROBE_OK;
}

static void control_layout (GstPad *pad);

/* As a pad is requested (main context) */
static void
compositor_pad_added (GstElement *compositor,
                      GstPad     *pad,
                      gpointer    user_data)
{
  if (GST_PAD_IS_SINK (pad))
    {
      gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, keep_qos_in_compositor, NULL, NULL);
      control_layout (pad);
    }
}

/* The muxer's thread: what it writes to the file, the stop's measure of
 * progress (finish_timeout_cb()) */
static GstPadProbeReturn
count_written (GstPad          *pad,
               GstPadProbeInfo *info,
               gpointer         user_data)
{
  KaigiRecorder *self = user_data;
  gsize size = gst_buffer_get_size (GST_PAD_PROBE_INFO_BUFFER (info));

  GST_OBJECT_LOCK (self->bin);
  self->bytes_written += size;
  GST_OBJECT_UNLOCK (self->bin);
  return GST_PAD_PROBE_OK;
}

/* Streaming threads: the span of media that reached the muxer */
static GstPadProbeReturn
track_span (GstPad          *pad,
            GstPadProbeInfo *info,
            gpointer         user_data)
{
  KaigiRecorder *self = user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime start = buffer_running_time (pad, buffer);
  GstClockTime end;

  if (!GST_CLOCK_TIME_IS_VALID (start))
    return GST_PAD_PROBE_OK;
  end = start + (GST_BUFFER_DURATION_IS_VALID (buffer) ? GST_BUFFER_DURATION (buffer) : 0);

  GST_OBJECT_LOCK (self->bin);
  if (!GST_CLOCK_TIME_IS_VALID (self->first_time) || start < self->first_time)
    self->first_time = start;
  if (!GST_CLOCK_TIME_IS_VALID (self->last_time) || end > self->last_time)
    self->last_time = end;
  GST_OBJECT_UNLOCK (self->bin);
  return GST_PAD_PROBE_OK;
}

static gboolean
eos_main (gpointer user_data)
{
  KaigiRecorder *self = user_data;

  if (self->state == STATE_STOPPING)
    finish (self);
  return G_SOURCE_REMOVE;
}

static void
defer (KaigiRecorder *self,
       GSourceFunc    func)
{
  g_autoptr(GSource) source = g_idle_source_new ();

  g_source_set_callback (source, func, g_object_ref (self), g_object_unref);
  g_source_attach (source, self->context);
}

/* Streaming thread: the file is complete once EOS reaches the sink */
static GstPadProbeReturn
watch_eos (GstPad          *pad,
           GstPadProbeInfo *info,
           gpointer         user_data)
{
  if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_EOS)
    defer (KAIGI_RECORDER (user_data), eos_main);
  return GST_PAD_PROBE_OK;
}

static gboolean
create_part_file (KaigiRecorder  *self,
                  const char     *dir,
                  GError        **error)
{
  g_autofree char *base = kaigi_recording_make_file_name (self->room, self->started);
  g_autofree char *stem = g_strndup (base, strlen (base) - strlen (".mp4"));
  guint n;

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_RECORDING_FAILED,
                   "cannot create the recordings folder %s: %s", dir, g_strerror (saved_errno));
      return FALSE;
    }

  /* Never overwrite: ROOM-…-2.mp4, -3… if the name is taken */
  for (n = 1; n < 100; n++)
    {
      g_autofree char *file = n == 1 ? g_strdup (base) : g_strdup_printf ("%s-%u.mp4", stem, n);
      g_autofree char *path = g_build_filename (dir, file, NULL);
      g_autofree char *part = g_strconcat (path, ".part", NULL);
      g_autoptr(GFile) gfile = g_file_new_for_path (part);
      g_autoptr(GFileOutputStream) stream = NULL;
      g_autoptr(GError) local_error = NULL;

      if (g_file_test (path, G_FILE_TEST_EXISTS))
        continue;
      stream = g_file_create (gfile, G_FILE_CREATE_NONE, NULL, &local_error);
      if (stream == NULL)
        {
          if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_EXISTS))
            continue;
          g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_RECORDING_FAILED,
                       "cannot write the recording %s: %s", part, local_error->message);
          return FALSE;
        }
      g_output_stream_close (G_OUTPUT_STREAM (stream), NULL, NULL);

      self->file = g_steal_pointer (&file);
      self->path = g_steal_pointer (&path);
      self->part_path = g_steal_pointer (&part);
      self->sidecar_path = g_strconcat (self->path, ".json", NULL);
      return TRUE;
    }

  g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_RECORDING_FAILED,
               "no free file name for %s in %s", base, dir);
  return FALSE;
}

static gboolean
write_sidecar (KaigiRecorder  *self,
               GError        **error)
{
  g_autofree char *json = kaigi_protocol_build_timeline (self->room, self->file, self->started,
                                                         self->duration_ms, self->events);

  return g_file_set_contents (self->sidecar_path, json, -1, error);
}

static void
watch_pad (KaigiRecorder     *self,
           const char        *element_name,
           const char        *pad_name,
           GstPadProbeType    type,
           GstPadProbeCallback callback)
{
  g_autoptr(GstElement) element = gst_bin_get_by_name (GST_BIN (self->bin), element_name);
  g_autoptr(GstPad) pad = gst_element_get_static_pad (element, pad_name);

  if (pad)
    gst_pad_add_probe (pad, type, callback, self, NULL);
}

/* The recording's streaming threads run at KAIGI_RECORDER_NICE, and end
 * with their tasks (the room gives its tasks a KaigiTaskPool of that
 * priority, see kaigi-room.c). The
 * compositor's scaling does not run on them: GStreamer 1.22's
 * videoaggregator converts every picture in its execution task pool
 * (gst_video_aggregator_get_execution_task_pool()), a GstSharedTaskPool,
 * i.e. on GLib's shared thread-pool threads, named "pool-PRGNAME" (15
 * bytes at most, as the kernel keeps them). GLib starts those with the
 * scheduling settings of the thread that made the first shared pool, so
 * they ran at the forwarding threads' priority: a fifth of a core at
 * N = 6 (docs/performance.md). While a recording runs, the main context
 * lowers them to KAIGI_RECORDER_NICE once a second. A lowered thread
 * stays lowered (raising it needs CAP_SYS_NICE) until GLib ends it, and
 * GLib may give it other jobs meanwhile, GIO's blocking ones (TLS
 * handshakes, DNS lookups) among them, which then yield to forwarding too.
 * Streaming tasks never run on these threads in the server
 * (kaigi-task-pool.c). Linux only (/proc, per-thread scheduling). */
static gboolean
lower_pool_threads (gpointer user_data)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  g_autofree char *name = NULL;
  const char *tid;

  if (dir == NULL)
    return G_SOURCE_CONTINUE;
  name = g_strdup_printf ("pool-%s", g_get_prgname () ? g_get_prgname () : "");
  if (strlen (name) > 15)
    name[15] = '\0';

  while ((tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/task", tid, "comm", NULL);
      g_autofree char *comm = NULL;

      if (g_file_get_contents (path, &comm, NULL, NULL) && strcmp (g_strchomp (comm), name) == 0)
        kaigi_task_pool_lower_thread ((pid_t) g_ascii_strtoull (tid, NULL, 10), KAIGI_RECORDER_NICE);
    }
  return G_SOURCE_CONTINUE;
}

/* One sweep for the process, however many rooms record: the recorders
 * that run hold it, the last one to finish removes it. Main context
 * only, so no lock. */
static guint sweep_holders;
static guint sweep_source;

static void
start_sweeping (KaigiRecorder *self)
{
  if (self->sweeping)
    return;
  self->sweeping = TRUE;
  if (sweep_holders++ == 0)
    sweep_source = g_timeout_add_seconds (POOL_SWEEP_S, lower_pool_threads, NULL);
}

static void
stop_sweeping (KaigiRecorder *self)
{
  if (!self->sweeping)
    return;
  self->sweeping = FALSE;
  if (--sweep_holders == 0)
    g_clear_handle_id (&sweep_source, g_source_remove);
}

/**
 * kaigi_recorder_new:
 * @pipeline: the room's pipeline, PLAYING
 * @room: the room's name
 * @config: recordings folder, video size, rate, bitrate and encoder
 * @error: return location for a #KAIGI_PROTOCOL_ERROR
 *   (%KAIGI_PROTOCOL_ERROR_RECORDING_FAILED: unwritable folder, no
 *   encoder)
 *
 * Starts a recording: creates `ROOM-YYYYmmdd-HHMMSS.mp4.part` (never
 * overwriting a file) and its JSON sidecar in the recordings folder, and
 * adds the mixing and encoding graph to @pipeline. Add participants with
 * kaigi_recorder_add_participant(), then start the file with
 * kaigi_recorder_begin(). Main context only.
 *
 * Returns: (transfer full) (nullable): the running recorder, or %NULL
 */
KaigiRecorder *
kaigi_recorder_new (GstBin             *pipeline,
                    const char         *room,
                    const KaigiConfig  *config,
                    GError            **error)
{
  g_autoptr(KaigiRecorder) self = g_object_new (KAIGI_TYPE_RECORDER, NULL);
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GstElement) vmix = NULL;
  GstElement *bin;

  self->config = kaigi_config_copy (config);
  self->room = g_strdup (room);
  self->id = g_uuid_string_random ();
  self->started = g_date_time_new_now_local ();
  self->pipeline = gst_object_ref (pipeline);

  if (!create_part_file (self, config->recordings_dir, error))
    return NULL;

  bin = kaigi_media_make_recorder_bin (config, self->part_path, running_time_now (self), &local_error);
  if (bin == NULL)
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_RECORDING_FAILED,
                   "cannot record: %s", local_error->message);
      g_unlink (self->part_path);
      return NULL;
    }
  self->bin = gst_object_ref_sink (bin);
  self->vmix = gst_bin_get_by_name (GST_BIN (bin), "vmix");
  g_signal_connect (self->vmix, "pad-added", G_CALLBACK (compositor_pad_added), NULL);
  self->amix = gst_bin_get_by_name (GST_BIN (bin), "amix");
  feed_audio_early (self);
  gst_object_set_name (GST_OBJECT (bin), "recorder");

  if (!write_sidecar (self, &local_error))
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_RECORDING_FAILED,
                   "cannot write the recording's sidecar: %s", local_error->message);
      g_unlink (self->part_path);
      return NULL;
    }

  watch_pad (self, "mux", "video_0", GST_PAD_PROBE_TYPE_BUFFER, track_span);
  watch_pad (self, "mux", "audio_0", GST_PAD_PROBE_TYPE_BUFFER, track_span);
  watch_pad (self, "sink", "sink", GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, watch_eos);
  watch_pad (self, "sink", "sink", GST_PAD_PROBE_TYPE_BUFFER, count_written);
  watch_pad (self, "vmix", "src", GST_PAD_PROBE_TYPE_BUFFER, keep_start_to_stop);
  watch_pad (self, "amix", "src", GST_PAD_PROBE_TYPE_BUFFER, keep_start_to_stop);
  watch_pad (self, "vqueue", "src", GST_PAD_PROBE_TYPE_BUFFER, report_lateness);

  gst_bin_add (pipeline, self->bin);
  if (!gst_element_sync_state_with_parent (self->bin))
    {
      g_set_error_literal (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_RECORDING_FAILED,
                           "the recorder did not start");
      gst_element_set_state (self->bin, GST_STATE_NULL);
      gst_bin_remove (pipeline, self->bin);
      g_unlink (self->part_path);
      g_unlink (self->sidecar_path);
      return NULL;
    }

  start_sweeping (self);
  GST_INFO ("recording room %s to %s", room, self->part_path);
  return g_steal_pointer (&self);
}

/**
 * kaigi_recorder_owns_object:
 * @object: a GStreamer object (an element or pad)
 *
 * Whether @object belongs to a recording's graph (the bin named
 * "recorder" that kaigi_recorder_new() adds). Any thread: it only walks
 * @object's parents.
 *
 * Returns: %TRUE if @object is inside a recording's bin
 */
gboolean
kaigi_recorder_owns_object (GstObject *object)
{
  g_autoptr(GstObject) parent = object ? gst_object_ref (object) : NULL;

  while (parent)
    {
      GstObject *next;

      if (GST_IS_BIN (parent) && g_strcmp0 (GST_OBJECT_NAME (parent), "recorder") == 0)
        return TRUE;
      next = gst_object_get_parent (parent);
      gst_object_unref (parent);
      parent = next;
    }
  return FALSE;
}

/* An AAC encoder's output, decoded, lags its input by the encoder delay;
 * MP4 files say so in an edit list, which mp4mux 1.22 does not write. So
 * the encoder gets its input that much early (a negative offset on its
 * sink pad) and keep_start_to_stop() starts the audio that much later:
 * in the file, every sound then plays at the time it was mixed, with the
 * pictures of that time. Measured before this, with avenc_aac: sounds
 * 21 ms late; with voaacenc 33 ms. Main context, before the bin runs. */
static void
feed_audio_early (KaigiRecorder *self)
{
  g_autoptr(GstElement) encoder = gst_bin_get_by_name (GST_BIN (self->bin), "aenc");
  g_autoptr(GstPad) sink = NULL;
  GstElementFactory *factory;
  guint samples;

  if (encoder == NULL || (factory = gst_element_get_factory (encoder)) == NULL)
    return;
  samples = kaigi_media_get_aac_encoder_delay (GST_OBJECT_NAME (factory));
  self->audio_delay = gst_util_uint64_scale_int (samples, GST_SECOND, 48000);
  sink = gst_element_get_static_pad (encoder, "sink");
  gst_pad_set_offset (sink, -(gint64) self->audio_delay);
  GST_DEBUG_OBJECT (self->bin, "%s delays audio by %u samples", GST_OBJECT_NAME (factory), samples);
}

/* Under the bin's object lock: the origin, once the start time and the
 * composite's frame grid are both known */
static void
update_origin (KaigiRecorder *self)
{
  guint fps = MAX (self->config->recording_framerate, 1);
  guint64 frames;

  if (GST_CLOCK_TIME_IS_VALID (self->origin) ||
      !GST_CLOCK_TIME_IS_VALID (self->start_time) ||
      !GST_CLOCK_TIME_IS_VALID (self->frame_zero))
    return;

  frames = self->start_time > self->frame_zero
           ? gst_util_uint64_scale_ceil (self->start_time - self->frame_zero, fps, GST_SECOND)
           : 0;
  self->origin = self->frame_zero + gst_util_uint64_scale (frames, GST_SECOND, fps);
  g_cond_broadcast (&self->origin_cond);
  GST_DEBUG_OBJECT (self->bin, "the file starts at %" GST_TIME_FORMAT ", frame %" G_GUINT64_FORMAT
                    " of the composite, %" GST_TIME_FORMAT " after it was asked for",
                    GST_TIME_ARGS (self->origin), frames, GST_TIME_ARGS (self->origin - self->start_time));
}

/**
 * kaigi_recorder_begin:
 * @self: a recorder, with its participants added
 *
 * Starts the file at the composite's next frame (at most one frame
 * duration from now). If a tile's placeholder or name plate has not
 * drawn its first picture yet, the file's first frame is the first one
 * after it has (at most %SOURCES_WAIT later), shown from the start
 * (keep_start_to_stop()): the file begins with every tile, never with
 * a black hole where a source was still starting, and its duration is
 * still the time recorded. Until this call nothing reaches the file: building
 * the graph and the participants' branches can take a while on a loaded
 * machine, and the file's duration is measured from here (what the live
 * sources made meanwhile is cut by keep_start_to_stop()). Both tracks
 * start on that frame exactly, because mp4mux 1.22 lines the tracks up by
 * their first samples (measured: audio that began 23 ms before the first
 * frame played 23 ms late). Main context only.
 */
void
kaigi_recorder_begin (KaigiRecorder *self)
{
  g_return_if_fail (KAIGI_IS_RECORDER (self));

  GST_OBJECT_LOCK (self->bin);
  self->start_time = running_time_now (self);
  update_origin (self);
  GST_OBJECT_UNLOCK (self->bin);
}

/**
 * kaigi_recorder_get_info:
 * @self: a recorder
 * @info: (out caller-allocates): filled with borrowed strings, valid while
 *   @self lives
 */
void
kaigi_recorder_get_info (KaigiRecorder      *self,
                         KaigiRecordingInfo *info)
{
  g_return_if_fail (KAIGI_IS_RECORDER (self));

  info->id = self->id;
  info->file = self->file;
  info->started = self->started;
}

/**
 * kaigi_recorder_get_file:
 * @self: a recorder
 *
 * Returns: (transfer none): the final file name (`….mp4`, without folder)
 */
const char *
kaigi_recorder_get_file (KaigiRecorder *self)
{
  g_return_val_if_fail (KAIGI_IS_RECORDER (self), NULL);

  return self->file;
}

/**
 * kaigi_recorder_is_finished:
 * @self: a recorder
 *
 * Returns: %TRUE once the file is final and ::finished was emitted
 */
gboolean
kaigi_recorder_is_finished (KaigiRecorder *self)
{
  g_return_val_if_fail (KAIGI_IS_RECORDER (self), TRUE);

  return self->state == STATE_FINISHED;
}

/**
 * kaigi_recorder_writes:
 * @self: a recorder
 * @file: a file name (without folder)
 *
 * Returns: %TRUE if @self is still writing @file (its `.mp4.part`)
 */
gboolean
kaigi_recorder_writes (KaigiRecorder *self,
                       const char    *file)
{
  g_autofree char *part = NULL;

  g_return_val_if_fail (KAIGI_IS_RECORDER (self), FALSE);

  part = g_strconcat (self->file, ".part", NULL);
  return self->state != STATE_FINISHED && g_str_equal (file, part);
}

static Tile *
find_tile (KaigiRecorder *self,
           const char    *id,
           guint         *index)
{
  guint i;

  for (i = 0; i < self->tiles->len; i++)
    {
      Tile *tile = g_ptr_array_index (self->tiles, i);

      if (g_str_equal (tile->id, id))
        {
          if (index)
            *index = i;
          return tile;
        }
    }
  return NULL;
}

/* A calm colour per participant for their placeholder tile */
static guint32
tile_colour (const char *id)
{
  static const guint32 palette[] = {
    0xFF3B4A6B, 0xFF4A6B3B, 0xFF6B3B4A, 0xFF3B6B63, 0xFF5C3B6B, 0xFF6B5A3B,
  };

  return palette[g_str_hash (id) % G_N_ELEMENTS (palette)];
}

/* Where keep-aspect-ratio puts the picture of @branch inside @tile */
static KaigiRect
picture_rect (Branch          *branch,
              const KaigiRect *tile)
{
  g_autoptr(GstPad) src = gst_element_get_static_pad (branch->bin, "src");
  g_autoptr(GstCaps) caps = src ? gst_pad_get_current_caps (src) : NULL;
  KaigiRect r = *tile;
  int width = 0, height = 0;

  if (caps == NULL ||
      !gst_structure_get_int (gst_caps_get_structure (caps, 0), "width", &width) ||
      !gst_structure_get_int (gst_caps_get_structure (caps, 0), "height", &height) ||
      width <= 0 || height <= 0)
    return r;

  if ((gint64) tile->width * height > (gint64) tile->height * width)
    {
      r.width = (int) ((gint64) tile->height * width / height) & ~1;
      r.x = tile->x + ((tile->width - r.width) / 2 & ~1);
    }
  else
    {
      r.height = (int) ((gint64) tile->width * height / width) & ~1;
      r.y = tile->y + ((tile->height - r.height) / 2 & ~1);
    }
  return r;
}

/* The compositor pad properties a layout sets */
static const char * const layout_properties[] = { "xpos", "ypos", "width", "height", "alpha" };

/* Main context, as a compositor pad is added: its layout properties
 * follow control sources, so that a change lands on the frames of the
 * moment it was made (GstController; videoaggregator syncs its pads'
 * values to each output frame's stream time). Set directly, a change
 * would apply to the next frame composed, which is older on a busy
 * machine: a camera turned off would show its placeholder in the file
 * before the last frames of its picture. */
static void
control_layout (GstPad *pad)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (layout_properties); i++)
    {
      g_autoptr(GstControlSource) source = gst_interpolation_control_source_new ();

      /* A step: each value holds until the next */
      g_object_set (source, "mode", GST_INTERPOLATION_MODE_NONE, NULL);
      gst_object_add_control_binding (GST_OBJECT (pad),
                                      gst_direct_control_binding_new_absolute (GST_OBJECT (pad),
                                                                               layout_properties[i],
                                                                               source));
    }
}

/* Main context: the compositor's stream time at running time @running;
 * 0 before its first frame */
static GstClockTime
composite_stream_time (KaigiRecorder *self,
                       GstClockTime   running)
{
  g_autoptr(GstPad) src = gst_element_get_static_pad (self->vmix, "src");
  g_autoptr(GstEvent) event = gst_pad_get_sticky_event (src, GST_EVENT_SEGMENT, 0);
  const GstSegment *segment;
  GstClockTime position;

  if (event == NULL || !GST_CLOCK_TIME_IS_VALID (running))
    return 0;
  gst_event_parse_segment (event, &segment);
  position = gst_segment_position_from_running_time (segment, GST_FORMAT_TIME, running);
  if (!GST_CLOCK_TIME_IS_VALID (position))
    return 0;
  return gst_segment_to_stream_time (segment, GST_FORMAT_TIME, position);
}

/* Main context: where a layout change made now belongs */
static GstClockTime
layout_time (KaigiRecorder *self)
{
  return composite_stream_time (self, running_time_now (self));
}

/* Main context: the stream time of the composite's last frame; the
 * layout before it is history */
static GstClockTime
composed_until (KaigiRecorder *self)
{
  return composite_stream_time (self, get_composite_position (self));
}

/* Main context: forgets the control points of @source that no frame
 * after @done can use, all but the last at or before it, so that a long
 * recording's layout changes do not pile up */
static void
forget_layout_before (GstTimedValueControlSource *source,
                      GstClockTime                done)
{
  GList *points = gst_timed_value_control_source_get_all (source);
  g_autoptr(GArray) stale = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  GList *l;
  guint i;

  /* Sorted by time: each point is stale if the next one is in force too */
  for (l = points; l != NULL && l->next != NULL; l = l->next)
    {
      const GstTimedValue *next = l->next->data;

      if (next->timestamp > done)
        break;
      g_array_append_val (stale, ((const GstTimedValue *) l->data)->timestamp);
    }
  g_list_free (points);
  for (i = 0; i < stale->len; i++)
    gst_timed_value_control_source_unset (source, g_array_index (stale, GstClockTime, i));
  if (stale->len > 0)
    GST_LOG ("forgot %u control points before %" GST_TIME_FORMAT "; %d left", stale->len,
             GST_TIME_ARGS (done), gst_timed_value_control_source_get_count (source));
}

/* Main context: from stream time @at on, @pad shows at @rect (NULL: where
 * it is) with @alpha; what was in force before stream time @done (the
 * composite's last frame) is forgotten */
static void
set_layout (GstPad         *pad,
            GstClockTime    at,
            GstClockTime    done,
            const KaigiRect *rect,
            gdouble         alpha)
{
  gdouble values[G_N_ELEMENTS (layout_properties)];
  guint i;

  if (rect)
    {
      values[0] = rect->x;
      values[1] = rect->y;
      values[2] = rect->width;
      values[3] = rect->height;
    }
  values[4] = alpha;

  for (i = rect ? 0 : 4; i < G_N_ELEMENTS (layout_properties); i++)
    {
      g_autoptr(GstControlBinding) binding = gst_object_get_control_binding (GST_OBJECT (pad),
                                                                            layout_properties[i]);
      g_autoptr(GstControlSource) source = NULL;

      if (binding == NULL)
        {
          GST_WARNING_OBJECT (pad, "%s is not controlled", layout_properties[i]);
          continue;
        }
      g_object_get (binding, "control-source", &source, NULL);
      forget_layout_before (GST_TIMED_VALUE_CONTROL_SOURCE (source), MIN (done, at));
      gst_timed_value_control_source_set (GST_TIMED_VALUE_CONTROL_SOURCE (source), at, values[i]);
    }
}

static void
apply_layout (KaigiRecorder *self)
{
  g_autofree KaigiRect *rects = NULL;
  guint main_index = 0, i;
  GstClockTime at, done;

  if (self->tiles->len == 0 || self->state == STATE_FINISHED)
    return;

  if (self->main_id)
    find_tile (self, self->main_id, &main_index);

  rects = g_new0 (KaigiRect, self->tiles->len);
  kaigi_layout_compute (self->config->recording_width, self->config->recording_height,
                        self->tiles->len, main_index, rects);
  at = layout_time (self);
  done = composed_until (self);

  for (i = 0; i < self->tiles->len; i++)
    {
      Tile *tile = g_ptr_array_index (self->tiles, i);
      Branch *video = tile->branch[KAIGI_TRACK_VIDEO];
      gboolean show_video = tile->video && video != NULL && video->mix_pad != NULL && video->has_picture;
      const KaigiRect *r = &rects[i];
      KaigiRect picture = show_video ? picture_rect (video, r) : *r;
      int label_height = CLAMP (picture.height / 6, LABEL_MIN_HEIGHT, LABEL_MAX_HEIGHT) & ~1;

      if (tile->placeholder_pad)
        set_layout (tile->placeholder_pad, at, done, r, show_video ? 0.0 : 1.0);
      if (video && video->mix_pad)
        set_layout (video->mix_pad, at, done, r, show_video ? 1.0 : 0.0);
      /* The placeholder shows the name already */
      if (tile->label_pad)
        {
          KaigiRect label = {
            .x = picture.x,
            .y = picture.y + picture.height - label_height,
            .width = MIN (label_height * 200 / 32 & ~1, picture.width),
            .height = label_height,
          };

          set_layout (tile->label_pad, at, done, &label, show_video ? 1.0 : 0.0);
        }
    }
}

/* Streaming thread of a placeholder or name plate made before the file
 * started: its first picture is on its way to the compositor. Once every
 * such source has one, the composite's next frame shows every tile, and
 * the file's first frame can be that one (keep_start_to_stop()), not one
 * black where a source was still starting (seen in the browser tests). */
static GstPadProbeReturn
source_started (GstPad          *pad,
                GstPadProbeInfo *info,
                gpointer         user_data)
{
  KaigiRecorder *self = user_data;

  GST_OBJECT_LOCK (self->bin);
  if (self->sources_starting > 0 && --self->sources_starting == 0)
    self->sources_ready = running_time_now (self);
  GST_OBJECT_UNLOCK (self->bin);
  return GST_PAD_PROBE_REMOVE;
}

/* Main context: @source (a placeholder or name plate bin) counts as
 * starting if the file has not started yet */
static void
watch_source_start (KaigiRecorder *self,
                    GstElement    *source)
{
  g_autoptr(GstPad) src = gst_element_get_static_pad (source, "src");
  gboolean before_first_frame;

  GST_OBJECT_LOCK (self->bin);
  before_first_frame = !GST_CLOCK_TIME_IS_VALID (self->first_frame_made);
  if (before_first_frame)
    self->sources_starting++;
  GST_OBJECT_UNLOCK (self->bin);
  if (before_first_frame)
    gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, source_started, self, NULL);
}

/**
 * kaigi_recorder_add_participant:
 * @self: a recorder
 * @id: the participant's id
 * @name: their display name, shown on their tile
 * @audio: microphone on
 * @video: camera on
 *
 * Gives the participant a tile: a placeholder with their name until (and
 * whenever) there is no picture. Attach their tracks with
 * kaigi_recorder_attach_track(). Main context only.
 */
void
kaigi_recorder_add_participant (KaigiRecorder *self,
                                const char    *id,
                                const char    *name,
                                gboolean       audio,
                                gboolean       video)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GstPad) src = NULL;
  Tile *tile;

  g_return_if_fail (KAIGI_IS_RECORDER (self));

  if (self->state != STATE_RUNNING || find_tile (self, id, NULL))
    return;

  tile = g_new0 (Tile, 1);
  tile->recorder = self;
  tile->id = g_strdup (id);
  tile->name = g_strdup (name);
  tile->audio = audio;
  tile->video = video;
  g_ptr_array_add (self->tiles, tile);

  tile->placeholder = kaigi_media_make_placeholder_bin (tile_colour (id), name,
                                                        running_time_now (self), &error);
  if (tile->placeholder)
    {
      gst_object_ref_sink (tile->placeholder);
      gst_bin_add (GST_BIN (self->bin), tile->placeholder);
      tile->placeholder_pad = gst_element_request_pad_simple (self->vmix, "sink_%u");
      g_object_set (tile->placeholder_pad, "zorder", 1u, NULL);
      src = gst_element_get_static_pad (tile->placeholder, "src");
      if (gst_pad_link (src, tile->placeholder_pad) != GST_PAD_LINK_OK)
        GST_ERROR_OBJECT (self->bin, "cannot link the placeholder of %s", id);
      watch_source_start (self, tile->placeholder);
      gst_element_sync_state_with_parent (tile->placeholder);
    }
  else
    {
      GST_ERROR_OBJECT (self->bin, "%s", error->message);
      g_clear_error (&error);
    }

  tile->label = kaigi_media_make_label_bin (name, running_time_now (self), &error);
  if (tile->label)
    {
      g_autoptr(GstPad) label_src = gst_element_get_static_pad (tile->label, "src");

      gst_object_ref_sink (tile->label);
      gst_bin_add (GST_BIN (self->bin), tile->label);
      tile->label_pad = gst_element_request_pad_simple (self->vmix, "sink_%u");
      g_object_set (tile->label_pad, "zorder", 3u, "alpha", 0.0, NULL);
      if (gst_pad_link (label_src, tile->label_pad) != GST_PAD_LINK_OK)
        GST_ERROR_OBJECT (self->bin, "cannot link the label of %s", id);
      watch_source_start (self, tile->label);
      gst_element_sync_state_with_parent (tile->label);
    }
  else
    {
      GST_ERROR_OBJECT (self->bin, "%s", error->message);
    }

  kaigi_recorder_add_event (self, "join", id, name, NULL, audio, video);
  apply_layout (self);
}

/* Streaming thread of the publisher's tee: the recording's firewall. The
 * branch gets each buffer here, and whatever it returns, the tee gets
 * GST_FLOW_OK: a decoder choking on garbage, or a branch being torn down,
 * never stops the publisher's track for its subscribers. A branch that
 * failed gets nothing more; its ERROR message removes it on the main
 * context. (Sticky events were pushed before the probes run.) */
static GstPadProbeReturn
isolate_branch (GstPad          *tee_pad,
                GstPadProbeInfo *info,
                gpointer         user_data)
{
  Branch *branch = user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  g_autoptr(GstPad) peer = NULL;
  GstFlowReturn ret;

  GST_PAD_PROBE_INFO_FLOW_RETURN (info) = GST_FLOW_OK;
  if (g_atomic_int_get (&branch->broken) || (peer = gst_pad_get_peer (tee_pad)) == NULL)
    {
      gst_buffer_unref (buffer);
      return GST_PAD_PROBE_HANDLED;
    }

  ret = gst_pad_chain (peer, buffer);
  if (ret != GST_FLOW_OK && ret != GST_FLOW_FLUSHING)
    {
      GST_WARNING_OBJECT (branch->bin, "the branch returned %s; it gets nothing more",
                          gst_flow_get_name (ret));
      g_atomic_int_set (&branch->broken, TRUE);
    }
  return GST_PAD_PROBE_HANDLED;
}

typedef struct
{
  KaigiRecorder *self;
  Branch *branch;
  GstClockTime running;   /* of the first decoded frame */
  GstClockTime now;       /* the running time when it was decoded */
  GstClockTime composed;  /* the composite's last frame then */
  guint polls;            /* of first_picture_main() */
} FirstPicture;

/* How often (ms) and how many times a first picture waits for the
 * compositor to pass its time */
#define FIRST_PICTURE_POLL_MS 10
#define FIRST_PICTURE_POLLS 100

/* Main context: the composite has a frame at or after @running */
static gboolean
composed_past (KaigiRecorder *self,
               GstClockTime   running)
{
  GstClockTime composed = get_composite_position (self);

  return GST_CLOCK_TIME_IS_VALID (composed) && GST_CLOCK_TIME_IS_VALID (running) && composed >= running;
}

/* Main context: a branch's first decoded frame. The tile shows it instead
 * of the placeholder once the compositor has composed a frame at or after
 * its time: the compositor then holds it, and draws it from the switch on.
 * Switching earlier, the compositor could draw the tile before the
 * picture's time, with nothing in it (black): seen in browser tests, where
 * the first pictures often come before the compositor's first frame. */
static gboolean
first_picture_main (gpointer user_data)
{
  FirstPicture *p = user_data;
  guint i;

  /* The branch may be gone already */
  for (i = 0; i < p->self->tiles->len; i++)
    {
      Tile *tile = g_ptr_array_index (p->self->tiles, i);

      if (tile->branch[KAIGI_TRACK_VIDEO] != p->branch)
        continue;
      if (p->polls == 0)
        GST_INFO_OBJECT (p->self->bin, "first picture of %s (%s), %" G_GINT64_FORMAT " ms after its branch; "
                           "its time %" GST_STIME_FORMAT " from when it was decoded, the composite's last frame %"
                           GST_STIME_FORMAT "%s", tile->id, tile->name,
                           (g_get_monotonic_time () - p->branch->attached) / 1000,
                           GST_STIME_ARGS (GST_CLOCK_DIFF (p->now, p->running)),
                           GST_STIME_ARGS (GST_CLOCK_TIME_IS_VALID (p->composed) ? GST_CLOCK_DIFF (p->now, p->composed)
                                                                                : GST_CLOCK_STIME_NONE),
                           GST_CLOCK_TIME_IS_VALID (p->composed) ? "" : " (no frame yet)");
      if (!composed_past (p->self, p->running) && ++p->polls < FIRST_PICTURE_POLLS)
        return G_SOURCE_CONTINUE;
      GST_DEBUG_OBJECT (p->self->bin, "%s (%s) shows its picture after %u polls", tile->id, tile->name, p->polls);
      p->branch->has_picture = TRUE;
      apply_layout (p->self);
      break;
    }
  return G_SOURCE_REMOVE;
}

static void
first_picture_free (gpointer data)
{
  FirstPicture *p = data;

  g_object_unref (p->self);
  g_free (p);
}

/* Streaming thread: the first decoded frame. Until the tile shows it
 * (first_picture_main()), it shows the placeholder, not a black
 * rectangle. */
static GstPadProbeReturn
note_first_picture (GstPad          *pad,
                    GstPadProbeInfo *info,
                    gpointer         user_data)
{
  Branch *branch = user_data;
  KaigiRecorder *self = branch->recorder;
  FirstPicture *p = g_new0 (FirstPicture, 1);
  g_autoptr(GSource) source = g_timeout_source_new (FIRST_PICTURE_POLL_MS);

  p->self = g_object_ref (self);
  p->branch = branch;
  p->running = buffer_running_time (pad, GST_PAD_PROBE_INFO_BUFFER (info));
  p->now = running_time_now (self);
  p->composed = get_composite_position (self);
  g_source_set_callback (source, first_picture_main, p, first_picture_free);
  g_source_attach (source, self->context);
  return GST_PAD_PROBE_REMOVE;
}

/* Main context: ask the publisher for a keyframe so the decoder can start
 * (webrtcbin turns the event into an RTCP PLI, RFC 4585 §6.3.1) */
static void
request_keyframe (Branch *branch)
{
  if (branch->kind == KAIGI_TRACK_VIDEO && branch->tee_pad && !branch->detaching)
    gst_pad_send_event (branch->tee_pad,
                        gst_video_event_new_upstream_force_key_unit (GST_CLOCK_TIME_NONE, TRUE, 0));
}

/**
 * kaigi_recorder_attach_track:
 * @self: a recorder
 * @id: the participant's id (added with kaigi_recorder_add_participant())
 * @kind: the track's kind
 * @tee: (transfer none): the track's tee
 * @caps: (transfer none): the track's RTP caps, as the publisher's
 *   webrtcbin announced them (the encoding chooses the decoder)
 *
 * Decodes the participant's track into the mix: a branch from @tee
 * through a leaky queue, so the recording can never slow down
 * forwarding. Asks the publisher for a keyframe. The branch can be
 * attached before the first packet reaches @tee: it takes the caps event
 * with that packet. Main context only.
 */
void
kaigi_recorder_attach_track (KaigiRecorder  *self,
                             const char     *id,
                             KaigiTrackKind  kind,
                             GstElement     *tee,
                             const GstCaps  *caps)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GstPad) sink = NULL;
  g_autoptr(GstPad) src = NULL;
  Tile *tile;
  Branch *branch;
  GstElement *bin;
  GstPadLinkReturn link;

  g_return_if_fail (KAIGI_IS_RECORDER (self));
  g_return_if_fail (GST_IS_ELEMENT (tee));
  g_return_if_fail (GST_IS_CAPS (caps) && gst_caps_get_size (caps) > 0);

  tile = find_tile (self, id, NULL);
  if (self->state != STATE_RUNNING || tile == NULL || tile->branch[kind] != NULL)
    return;

  bin = kaigi_media_make_decode_bin (kind, caps, self->config->jitterbuffer_latency_ms, &error);
  if (bin == NULL)
    {
      GST_WARNING_OBJECT (self->bin, "%s", error->message);
      return;
    }

  branch = g_new0 (Branch, 1);
  branch->recorder = self;
  branch->tile = tile;
  branch->kind = kind;
  branch->tee = gst_object_ref (tee);
  branch->bin = gst_object_ref_sink (bin);
  branch->attached = g_get_monotonic_time ();
  tile->branch[kind] = branch;

  gst_object_set_name (GST_OBJECT (bin), NULL);
  gst_bin_add (GST_BIN (self->bin), bin);
  branch->mix_pad = gst_element_request_pad_simple (kind == KAIGI_TRACK_VIDEO ? self->vmix : self->amix,
                                                    "sink_%u");
  if (kind == KAIGI_TRACK_VIDEO)
    g_object_set (branch->mix_pad, "zorder", 2u, "sizing-policy", 1 /* keep-aspect-ratio */,
                  "alpha", 0.0, NULL);
  src = gst_element_get_static_pad (bin, "src");
  if (gst_pad_link (src, branch->mix_pad) != GST_PAD_LINK_OK)
    GST_ERROR_OBJECT (self->bin, "cannot link the %s decoder of %s",
                      kaigi_track_kind_to_string (kind), id);
  if (kind == KAIGI_TRACK_VIDEO)
    gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, note_first_picture, branch, NULL);
  gst_element_sync_state_with_parent (bin);

  /* Linked last, so that data only flows into a running branch. The tee
   * is outside the recorder bin: in through a ghost pad. */
  sink = gst_element_get_static_pad (bin, "sink");
  branch->entry = gst_object_ref (gst_ghost_pad_new (NULL, sink));
  gst_pad_set_active (branch->entry, TRUE);
  gst_element_add_pad (self->bin, branch->entry);
  branch->tee_pad = gst_element_request_pad_simple (tee, "src_%u");
  /* No caps check here: the query would run through the decoder into the
   * compositor; the caps event settles it when data flows */
  link = gst_pad_link_full (branch->tee_pad, branch->entry, GST_PAD_LINK_CHECK_HIERARCHY);
  if (link != GST_PAD_LINK_OK)
    GST_ERROR_OBJECT (self->bin, "cannot link the %s tee of %s: %s",
                      kaigi_track_kind_to_string (kind), id, gst_pad_link_get_name (link));
  gst_pad_add_probe (branch->tee_pad, GST_PAD_PROBE_TYPE_BUFFER, isolate_branch, branch, NULL);

  request_keyframe (branch);
  apply_layout (self);
}

/**
 * kaigi_recorder_set_media:
 * @self: a recorder
 * @id: the participant's id
 * @audio: microphone on
 * @video: camera on
 *
 * Shows the placeholder instead of the picture while the camera is off,
 * and notes the change in the timeline. Main context only.
 */
void
kaigi_recorder_set_media (KaigiRecorder *self,
                          const char    *id,
                          gboolean       audio,
                          gboolean       video)
{
  Tile *tile;

  g_return_if_fail (KAIGI_IS_RECORDER (self));

  tile = find_tile (self, id, NULL);
  if (tile == NULL || self->state != STATE_RUNNING)
    return;

  if (video && !tile->video && tile->branch[KAIGI_TRACK_VIDEO])
    request_keyframe (tile->branch[KAIGI_TRACK_VIDEO]);
  tile->audio = audio;
  tile->video = video;
  kaigi_recorder_add_event (self, "media", id, tile->name, NULL, audio, video);
  apply_layout (self);
}

/* Detaching a branch: IDLE probe on the tee pad (any thread), then the
 * rest on the main context */

typedef struct
{
  KaigiRecorder *self;
  Branch *branch;
  gboolean unlink_only;   /* the branch goes down with the bin later */
} Detach;

static gboolean
branch_detached_main (gpointer user_data)
{
  Detach *d = user_data;
  KaigiRecorder *self = d->self;
  Branch *branch = d->branch;

  gst_element_release_request_pad (branch->tee, branch->tee_pad);
  if (GST_OBJECT_PARENT (branch->entry) == GST_OBJECT (self->bin))
    gst_element_remove_pad (self->bin, branch->entry);
  if (!d->unlink_only)
    {
      g_autoptr(GstPad) sink = gst_element_get_static_pad (branch->bin, "sink");

      /* Nothing is set to NULL or released while the mixers run (their
       * serialized queries would deadlock against a state change): the
       * branch drains, ends its mixer pad with EOS, and goes down with
       * the bin */
      if (branch->kind == KAIGI_TRACK_VIDEO)
        set_layout (branch->mix_pad, layout_time (self), composed_until (self), NULL, 0.0);
      gst_pad_send_event (sink, gst_event_new_eos ());
      g_ptr_array_add (self->retired, branch);
    }

  g_assert (self->pending_detaches > 0);
  self->pending_detaches--;
  g_object_unref (self);
  g_free (d);
  return G_SOURCE_REMOVE;
}

static GstPadProbeReturn
unlink_branch (GstPad          *tee_pad,
               GstPadProbeInfo *info,
               gpointer         user_data)
{
  Detach *d = user_data;
  g_autoptr(GSource) source = g_idle_source_new ();

  gst_pad_unlink (tee_pad, d->branch->entry);

  g_source_set_callback (source, branch_detached_main, d, NULL);
  g_source_attach (source, d->self->context);
  return GST_PAD_PROBE_REMOVE;
}

static void
detach_branch (KaigiRecorder *self,
               Branch        *branch,
               gboolean       unlink_only)
{
  Detach *d;

  if (branch->detaching)
    return;
  branch->detaching = TRUE;

  d = g_new0 (Detach, 1);
  d->self = g_object_ref (self);
  d->branch = branch;
  d->unlink_only = unlink_only;
  self->pending_detaches++;
  gst_pad_add_probe (branch->tee_pad, GST_PAD_PROBE_TYPE_IDLE, unlink_branch, d, NULL);
}

/* A placeholder or name plate of a participant who left: hidden at once,
 * ended with EOS, and gone with the bin (see branch_detached_main()) */
static void
remove_source (KaigiRecorder  *self,
               GstElement    **source,
               GstPad        **mix_pad)
{
  if (*source == NULL)
    return;

  set_layout (*mix_pad, layout_time (self), composed_until (self), NULL, 0.0);
  gst_element_send_event (*source, gst_event_new_eos ());
  gst_clear_object (source);
  gst_clear_object (mix_pad);
}

/**
 * kaigi_recorder_remove_participant:
 * @self: a recorder
 * @id: the participant's id
 *
 * Takes the participant's tile and voice out of the mix, before their
 * tees go away: call it before shutting the participant down. The
 * layout closes up at once; the file has no gap. Main context only.
 */
void
kaigi_recorder_remove_participant (KaigiRecorder *self,
                                   const char    *id)
{
  Tile *tile;
  guint index, i;

  g_return_if_fail (KAIGI_IS_RECORDER (self));

  tile = find_tile (self, id, &index);
  if (tile == NULL)
    return;

  kaigi_recorder_add_event (self, "leave", id, tile->name, NULL, FALSE, FALSE);
  /* While stopping, every branch is already on its way out */
  if (self->state != STATE_RUNNING)
    return;

  for (i = 0; i < KAIGI_N_TRACK_KINDS; i++)
    {
      Branch *branch = g_steal_pointer (&tile->branch[i]);

      if (branch)
        detach_branch (self, branch, FALSE);
    }
  remove_source (self, &tile->placeholder, &tile->placeholder_pad);
  remove_source (self, &tile->label, &tile->label_pad);
  g_ptr_array_remove_index (self->tiles, index);
  apply_layout (self);
}

/**
 * kaigi_recorder_set_main:
 * @self: a recorder
 * @id: (nullable): who takes the main tile (the active speaker or the
 *   pinned participant); %NULL for the first participant
 *
 * Main context only.
 */
void
kaigi_recorder_set_main (KaigiRecorder *self,
                         const char    *id)
{
  g_return_if_fail (KAIGI_IS_RECORDER (self));

  if (g_strcmp0 (self->main_id, id) == 0)
    return;
  g_free (self->main_id);
  self->main_id = g_strdup (id);
  apply_layout (self);
}

/**
 * kaigi_recorder_add_event:
 * @self: a recorder
 * @type: "join", "leave", "media", "speaker", "pin" or "chat"
 * @participant: (nullable): the participant concerned
 * @name: (nullable): their display name
 * @text: (nullable): "chat": the message
 * @audio: "media": microphone on
 * @video: "media": camera on
 *
 * Adds an entry, stamped with the current offset into the file (ms), to
 * the timeline written to the JSON sidecar. Main context only.
 */
void
kaigi_recorder_add_event (KaigiRecorder *self,
                          const char    *type,
                          const char    *participant,
                          const char    *name,
                          const char    *text,
                          gboolean       audio,
                          gboolean       video)
{
  KaigiTimelineEvent *event;
  GstClockTime now;

  g_return_if_fail (KAIGI_IS_RECORDER (self));

  if (self->state == STATE_FINISHED)
    return;

  now = running_time_now (self);
  event = g_new0 (KaigiTimelineEvent, 1);
  event->offset_ms = now > self->origin ? (gint64) ((now - self->origin) / GST_MSECOND) : 0;
  event->type = g_strdup (type);
  event->participant = g_strdup (participant);
  event->name = g_strdup (name);
  event->text = g_strdup (text);
  event->audio = audio;
  event->video = video;
  g_ptr_array_add (self->events, event);
}

static const char *
find_branch_owner (KaigiRecorder *self,
                   GstObject     *object)
{
  guint i, k;

  for (i = 0; i < self->tiles->len; i++)
    {
      Tile *tile = g_ptr_array_index (self->tiles, i);

      for (k = 0; k < KAIGI_N_TRACK_KINDS; k++)
        if (tile->branch[k] && gst_object_has_as_ancestor (object, GST_OBJECT (tile->branch[k]->bin)))
          return tile->id;
    }
  return NULL;
}

static void
fail (KaigiRecorder *self,
      const GError  *error)
{
  guint i, k;

  if (self->state == STATE_FINISHED)
    return;

  GST_WARNING_OBJECT (self->bin, "recording %s failed: %s", self->file, error->message);
  if (self->error == NULL)
    self->error = g_error_new (KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_RECORDING_FAILED,
                               "the recording stopped: %s", error->message);

  /* Unlink from the tees first; the rest goes down with the bin */
  for (i = 0; i < self->tiles->len; i++)
    {
      Tile *tile = g_ptr_array_index (self->tiles, i);

      for (k = 0; k < KAIGI_N_TRACK_KINDS; k++)
        if (tile->branch[k] && !tile->branch[k]->detaching)
          detach_branch (self, tile->branch[k], TRUE);
    }
  self->state = STATE_STOPPING;
  defer (self, eos_main);
}

/**
 * kaigi_recorder_handle_message:
 * @self: a recorder
 * @message: a message from the room's bus
 *
 * Handles the recorder's own messages: an ERROR from its elements (a full
 * disk, an encoder failure) stops the recording and keeps what was
 * written; an ERROR from one participant's decoder only drops that
 * branch; a WARNING that a participant's picture is too large to decode
 * is logged; `level` meter messages become ::audio-level. Main context
 * only.
 *
 * Returns: %TRUE if @message came from the recorder
 */
gboolean
kaigi_recorder_handle_message (KaigiRecorder *self,
                               GstMessage    *message)
{
  GstObject *src = GST_MESSAGE_SRC (message);
  const char *owner;

  g_return_val_if_fail (KAIGI_IS_RECORDER (self), FALSE);

  if (self->bin == NULL || src == NULL || !gst_object_has_as_ancestor (src, GST_OBJECT (self->bin)))
    return FALSE;

  owner = find_branch_owner (self, src);

  switch (GST_MESSAGE_TYPE (message))
    {
    case GST_MESSAGE_ERROR:
      {
        g_autoptr(GError) error = NULL;
        g_autofree char *debug = NULL;

        gst_message_parse_error (message, &error, &debug);
        if (owner)
          {
            /* One participant's garbage never stops the mix */
            Tile *tile = find_tile (self, owner, NULL);
            guint k;

            GST_WARNING_OBJECT (src, "dropping %s from the mix: %s (%s)", owner, error->message, debug);
            for (k = 0; k < KAIGI_N_TRACK_KINDS; k++)
              if (tile->branch[k] && gst_object_has_as_ancestor (src, GST_OBJECT (tile->branch[k]->bin)))
                detach_branch (self, g_steal_pointer (&tile->branch[k]), FALSE);
            apply_layout (self);
          }
        else
          {
            /* GStreamer's message is generic ("Could not write to
             * resource."); the last line of its debug text says what
             * failed ("Error while writing to file …: File too large") */
            const char *detail = debug ? strrchr (debug, '\n') : NULL;

            if (detail)
              {
                g_autoptr(GError) detailed = g_error_new (error->domain, error->code, "%s (%s)",
                                                          error->message, detail + 1);

                fail (self, detailed);
              }
            else
              {
                fail (self, error);
              }
          }
        return TRUE;
      }

    case GST_MESSAGE_WARNING:
      {
        g_autoptr(GError) error = NULL;

        /* A picture too large to decode (kaigi_media_make_decode_bin);
         * the decoders' own warnings, one per undecodable frame of a
         * garbled stream, stay in the debug log */
        gst_message_parse_warning (message, &error, NULL);
        if (owner && g_error_matches (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT) &&
            g_strcmp0 (GST_OBJECT_NAME (src), "picture") == 0)
          g_message ("Room %s: the recording leaves out the video of %s: %s", self->room, owner,
                     error->message);
        return TRUE;
      }

    case GST_MESSAGE_ELEMENT:
      {
        const GstStructure *s = gst_message_get_structure (message);
        const GValue *rms;
        double db = -127.0;
        guint c, n;

        if (owner == NULL || s == NULL || !gst_structure_has_name (s, "level"))
          return TRUE;
        /* One value per channel: a GValueArray, as `level` 1.22 posts it
         * (deprecated type, hence the pragmas), or a GstValueArray */
        rms = gst_structure_get_value (s, "rms");
        if (rms && GST_VALUE_HOLDS_ARRAY (rms))
          {
            n = gst_value_array_get_size (rms);
            for (c = 0; c < n; c++)
              db = MAX (db, g_value_get_double (gst_value_array_get_value (rms, c)));
          }
        else if (rms && G_VALUE_HOLDS_BOXED (rms))
          {
            G_GNUC_BEGIN_IGNORE_DEPRECATIONS
            GValueArray *values = g_value_get_boxed (rms);

            for (c = 0; values && c < values->n_values; c++)
              db = MAX (db, g_value_get_double (g_value_array_get_nth (values, c)));
            G_GNUC_END_IGNORE_DEPRECATIONS
          }
        g_signal_emit (self, signals[SIGNAL_AUDIO_LEVEL], 0, owner, (guint) CLAMP (-db, 0.0, 127.0));
        return TRUE;
      }

    default:
      return TRUE;
    }
}

static gboolean
finish_timeout_cb (gpointer user_data)
{
  KaigiRecorder *self = user_data;
  guint64 written;

  GST_OBJECT_LOCK (self->bin);
  written = self->bytes_written;
  GST_OBJECT_UNLOCK (self->bin);
  if (written > self->finish_progress)
    {
      GST_INFO_OBJECT (self->bin, "the muxer of %s wrote %" G_GUINT64_FORMAT " bytes in %d s; waiting on",
                       self->file, written - self->finish_progress, FINISH_TIMEOUT_S);
      self->finish_progress = written;
      return G_SOURCE_CONTINUE;
    }

  self->finish_timeout = 0;
  GST_WARNING_OBJECT (self->bin, "the muxer of %s wrote nothing in %d s; keeping the file as it is",
                      self->file, FINISH_TIMEOUT_S);
  if (self->error == NULL)
    self->error = g_error_new (KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_RECORDING_FAILED,
                               "the recording could not be finished; kept as %s.part", self->file);
  self->writer_hung = TRUE;
  finish (self);
  return G_SOURCE_REMOVE;
}

/* Streaming thread of the audiomixer: a new buffer with the samples of
 * @buffer from @start (running time) on, or NULL if it has none there.
 * Before kaigi_media_clip_audio_front(), the cut buffer's PTS wrapped round
 * to near 0: a stray buffer at the head of every recording's audio, after
 * which mp4mux got the first audio one AAC frame (21 ms) after the first
 * frame and moved the whole track that much earlier (docs/recording.md) */
static GstBuffer *
clip_audio_front (GstPad       *pad,
                  GstBuffer    *buffer,
                  GstClockTime  running,
                  GstClockTime  start)
{
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  GstAudioInfo info;

  if (caps == NULL || !gst_audio_info_from_caps (&info, caps))
    return NULL;
  /* segment time and running time advance alike (rate 1) */
  return kaigi_media_clip_audio_front (buffer, &info, start - running);
}

/* Streaming thread of the compositor: @first, the file's first frame,
 * made @late (ns) after the file's start, is pushed @n times before it
 * goes on its way, on the frames from the start to it: the file starts
 * with a still of the whole layout, at the constant frame rate, without
 * a gap. Copies share the picture's memory. */
static void
show_from_start (KaigiRecorder *self,
                 GstPad        *pad,
                 GstBuffer     *first,
                 GstClockTime   late,
                 guint64        n)
{
  guint fps = MAX (self->config->recording_framerate, 1);
  GstClockTime start = GST_BUFFER_PTS (first) - late;
  guint64 i;

  GST_DEBUG_OBJECT (pad, "the file's first frame, made at %" GST_TIME_FORMAT
                    ", is shown from its start, %" G_GUINT64_FORMAT " ms (%" G_GUINT64_FORMAT
                    " frames) earlier", GST_TIME_ARGS (GST_BUFFER_PTS (first)), late / GST_MSECOND, n);
  for (i = 0; i < n; i++)
    {
      GstBuffer *copy = gst_buffer_copy (first);
      GstClockTime at = start + gst_util_uint64_scale (i, GST_SECOND, fps);
      GstClockTime next = MIN (start + gst_util_uint64_scale (i + 1, GST_SECOND, fps), GST_BUFFER_PTS (first));
      GstFlowReturn flow;

      if (at >= GST_BUFFER_PTS (first))
        {
          gst_buffer_unref (copy);
          break;
        }
      GST_BUFFER_PTS (copy) = at;
      GST_BUFFER_DTS (copy) = GST_CLOCK_TIME_NONE;
      GST_BUFFER_DURATION (copy) = next - at;
      flow = gst_pad_push (pad, copy);
      if (flow != GST_FLOW_OK)
        {
          GST_DEBUG_OBJECT (pad, "copy %" G_GUINT64_FORMAT " of the first frame: %s", i, gst_flow_get_name (flow));
          break;
        }
    }
}

/* Streaming threads of the compositor and the audiomixer: the file
 * begins at the start and ends at the stop time exactly, whatever the
 * inputs do (the audiomixer starts at its first input buffer, which can be
 * older than the start: a participant's backlog on a loaded machine).
 * Audio starts at the first frame to the sample, later by the encoder
 * delay that feed_audio_early() takes back. */
static GstPadProbeReturn
keep_start_to_stop (GstPad          *pad,
                    GstPadProbeInfo *info,
                    gpointer         user_data)
{
  KaigiRecorder *self = user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime running = buffer_running_time (pad, buffer);
  gboolean audio = GST_OBJECT_PARENT (pad) == GST_OBJECT (self->amix);
  guint fps = MAX (self->config->recording_framerate, 1);
  GstClockTime origin, stop_time, duration;
  guint64 fill = 0;

  if (!GST_CLOCK_TIME_IS_VALID (running))
    return GST_PAD_PROBE_OK;
  duration = GST_BUFFER_DURATION_IS_VALID (buffer) ? GST_BUFFER_DURATION (buffer) : 0;

  GST_OBJECT_LOCK (self->bin);
  if (!audio)
    self->composite_position = running;
  if (!audio && !GST_CLOCK_TIME_IS_VALID (self->frame_zero))
    {
      self->frame_zero = running;
      update_origin (self);
    }
  /* The file's first frame is the first with every tile's placeholder
   * and name plate drawn (made after sources_ready), at most
   * SOURCES_WAIT after the start; it is shown from the start */
  if (!audio && !GST_CLOCK_TIME_IS_VALID (self->first_frame_made) && GST_CLOCK_TIME_IS_VALID (self->origin) &&
      running + duration / 2 >= self->origin)
    {
      gboolean ready = self->sources_starting == 0 &&
                       (!GST_CLOCK_TIME_IS_VALID (self->sources_ready) || running >= self->sources_ready);

      if (!ready && running < self->start_time + SOURCES_WAIT && !self->stopping)
        {
          GST_OBJECT_UNLOCK (self->bin);
          GST_LOG_OBJECT (pad, "frame at %" GST_TIME_FORMAT " waits for the placeholders and name plates",
                          GST_TIME_ARGS (running));
          return GST_PAD_PROBE_DROP;
        }
      if (!ready)
        GST_WARNING_OBJECT (self->bin, "%u placeholders or name plates still not drawn; the file starts without them",
                            self->sources_starting);
      self->sources_starting = 0;
      self->first_frame_made = running;
      g_cond_broadcast (&self->origin_cond);
      if (running > self->origin && GST_BUFFER_PTS (buffer) >= running - self->origin)
        fill = gst_util_uint64_scale_round (running - self->origin, fps, GST_SECOND);
    }
  /* Audio that may belong in the file waits for the file's first frame:
   * mp4mux starts each track at its first sample */
  if (audio && !self->audio_waited && GST_CLOCK_TIME_IS_VALID (self->start_time) &&
      running + duration > self->start_time)
    {
      gint64 deadline = g_get_monotonic_time () + (ORIGIN_WAIT + SOURCES_WAIT) / GST_USECOND;

      while (!GST_CLOCK_TIME_IS_VALID (self->first_frame_made) && !self->stopping &&
             g_cond_wait_until (&self->origin_cond, GST_OBJECT_GET_LOCK (self->bin), deadline))
        ;
      self->audio_waited = TRUE;
      if (!GST_CLOCK_TIME_IS_VALID (self->origin))
        {
          GST_WARNING_OBJECT (self->bin, "no frame from the composite; the audio starts on its own");
          self->frame_zero = self->start_time;
          update_origin (self);
        }
    }
  origin = self->origin;
  stop_time = self->stop_time;
  GST_OBJECT_UNLOCK (self->bin);
  if (fill > 0)
    show_from_start (self, pad, buffer, running - origin, fill);
  /* NONE, the largest time, until the graph runs */
  if (!GST_CLOCK_TIME_IS_VALID (origin))
    return GST_PAD_PROBE_DROP;
  if (audio)
    {
      origin += self->audio_delay;
      if (GST_CLOCK_TIME_IS_VALID (stop_time))
        stop_time += self->audio_delay;
    }
  if (audio && running < origin)
    {
      if (running + duration <= origin)
        return GST_PAD_PROBE_DROP;
      buffer = clip_audio_front (pad, buffer, running, origin);
      if (buffer == NULL)
        return GST_PAD_PROBE_DROP;
      gst_buffer_unref (GST_PAD_PROBE_INFO_BUFFER (info));
      GST_PAD_PROBE_INFO_DATA (info) = buffer;
      running = origin;
    }
  /* Frame times can differ from origin by a nanosecond of rounding */
  if (!audio && running + duration / 2 < origin)
    {
      GST_LOG_OBJECT (pad, "frame at %" GST_TIME_FORMAT " is before the start", GST_TIME_ARGS (running));
      return GST_PAD_PROBE_DROP;
    }
  if (!GST_CLOCK_TIME_IS_VALID (stop_time) || running < stop_time)
    return GST_PAD_PROBE_OK;

  /* The first buffer past the end: EOS instead, then nothing */
  if (!g_object_get_data (G_OBJECT (pad), "kaigi-eos-sent"))
    {
      g_object_set_data (G_OBJECT (pad), "kaigi-eos-sent", GINT_TO_POINTER (TRUE));
      gst_pad_push_event (pad, gst_event_new_eos ());
    }
  return GST_PAD_PROBE_DROP;
}

/**
 * kaigi_recorder_stop:
 * @self: a recorder
 *
 * Stops the recording cleanly at the current running time: the composite
 * and the mix end there exactly (EOS instead of their first later
 * buffer), the encoders drain, mp4mux finalizes the file (rewritten into a
 * normal MP4, its index at the end), and the `.part` is renamed. Then the branches
 * are unlinked from their tees and the graph goes.
 * ::finished follows on the main context, within about a second on a
 * machine that keeps up; on one that does not, once the encoders have
 * caught up with the stop. If the muxer writes nothing to the file for
 * %FINISH_TIMEOUT_S s, the file is kept as its last fragment left
 * it, as `.mp4.part`, and ::finished carries a
 * %KAIGI_PROTOCOL_ERROR_RECORDING_FAILED error at once, while the graph
 * waits for the hung write on a thread of its own
 * (kaigi_recorder_get_n_closing()). Main context only;
 * calling it again does nothing.
 */
void
kaigi_recorder_stop (KaigiRecorder *self)
{
  g_return_if_fail (KAIGI_IS_RECORDER (self));

  if (self->state != STATE_RUNNING)
    return;

  self->state = STATE_STOPPING;
  GST_OBJECT_LOCK (self->bin);
  self->stop_time = running_time_now (self);
  self->stopping = TRUE;
  g_cond_broadcast (&self->origin_cond);
  self->finish_progress = self->bytes_written;
  GST_OBJECT_UNLOCK (self->bin);
  self->finish_timeout = g_timeout_add_seconds (FINISH_TIMEOUT_S, finish_timeout_cb, self);
}

/* Graphs still on their way to NULL, in the whole process */
static gint n_closing;

/* Main context: the file is closed (or the writer is given up on); the
 * file gets its final name, the sidecar its last state */
static void
complete (KaigiRecorder *self)
{
  g_autoptr(GError) sidecar_error = NULL;
  GstClockTime first, last;

  self->state = STATE_FINISHED;

  GST_OBJECT_LOCK (self->bin);
  first = self->first_time;
  last = self->last_time;
  GST_OBJECT_UNLOCK (self->bin);
  self->duration_ms = GST_CLOCK_TIME_IS_VALID (first) && last > first
                      ? (gint64) ((last - first) / GST_MSECOND) : 0;
  GST_INFO ("media from %" GST_TIME_FORMAT " to %" GST_TIME_FORMAT "; started at %" GST_TIME_FORMAT
            ", stopped at %" GST_TIME_FORMAT, GST_TIME_ARGS (first), GST_TIME_ARGS (last),
            GST_TIME_ARGS (self->origin), GST_TIME_ARGS (self->stop_time));

  /* After an error the file stays .mp4.part: listed as recovered, and
   * it plays up to its last index update */
  if (self->error == NULL && g_rename (self->part_path, self->path) != 0)
    {
      int saved_errno = errno;

      self->error = g_error_new (KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_RECORDING_FAILED,
                                 "cannot rename %s: %s", self->part_path, g_strerror (saved_errno));
    }
  if (!write_sidecar (self, &sidecar_error))
    GST_WARNING ("cannot write %s: %s", self->sidecar_path, sidecar_error->message);

  GST_INFO ("recording %s finished: %" G_GINT64_FORMAT " ms%s%s", self->file, self->duration_ms,
            self->error ? ", " : "", self->error ? self->error->message : "");
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0, self->duration_ms, self->error);
}

/* Main context, holding the reference close_graph() took */
static gboolean
graph_closed_main (gpointer user_data)
{
  KaigiRecorder *self = user_data;

  GST_DEBUG ("the graph of %s reached NULL in %" G_GINT64_FORMAT " ms", self->file,
             (g_get_monotonic_time () - self->close_started) / 1000);
  self->closing = FALSE;
  if (self->state != STATE_FINISHED)
    complete (self);
  g_atomic_int_add (&n_closing, -1);
  return G_SOURCE_REMOVE;
}

/* A thread of GStreamer's pool (gst_element_call_async()) */
static void
close_graph (GstElement *bin,
             gpointer    user_data)
{
  KaigiRecorder *self = user_data;

  gst_element_set_state (bin, GST_STATE_NULL);
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, graph_closed_main, self,
                              g_object_unref);
}

/* Main context, once the graph is out of the tees: the graph leaves the
 * room's pipeline and goes to NULL on another thread. A writer blocked in
 * write() holds its streaming thread, and the state change with it, for
 * as long as the disk does; that must not stall the main context, where
 * every room's signaling runs. A hung writer's recording ends now; any
 * other ends once its file is closed. */
static void
finish (KaigiRecorder *self)
{
  guint i, k;

  if (self->state == STATE_FINISHED || self->closing)
    return;

  /* Out of the tees first (behind IDLE probes), then down with the bin:
   * never FLUSHING into a tee */
  for (i = 0; i < self->tiles->len; i++)
    {
      Tile *tile = g_ptr_array_index (self->tiles, i);

      for (k = 0; k < KAIGI_N_TRACK_KINDS; k++)
        if (tile->branch[k] && !tile->branch[k]->detaching)
          detach_branch (self, tile->branch[k], TRUE);
    }
  if (self->pending_detaches > 0)
    {
      defer (self, eos_main);
      return;
    }

  g_clear_handle_id (&self->finish_timeout, g_source_remove);
  stop_sweeping (self);
  stop_waiting (self);
  self->closing = TRUE;
  self->close_started = g_get_monotonic_time ();
  g_atomic_int_inc (&n_closing);
  if (GST_OBJECT_PARENT (self->bin) == GST_OBJECT (self->pipeline))
    gst_bin_remove (self->pipeline, self->bin);
  gst_element_call_async (self->bin, close_graph, g_object_ref (self), NULL);
  if (self->writer_hung)
    complete (self);
}

/**
 * kaigi_recorder_get_n_closing:
 *
 * Counts the recording graphs of this process that are still going to
 * NULL after their recording ended. A graph whose file writer hangs
 * (kaigi_recorder_stop()) stays here until the write returns; the others
 * leave within milliseconds. For tests and shutdown. Main context only:
 * a graph leaves the count when the main context has run its last step.
 *
 * Returns: the number of such graphs
 */
guint
kaigi_recorder_get_n_closing (void)
{
  return (guint) g_atomic_int_get (&n_closing);
}

static guint64
queue_level (KaigiRecorder *self,
             const char    *name)
{
  g_autoptr(GstElement) queue = gst_bin_get_by_name (GST_BIN (self->bin), name);
  guint64 level = 0;

  if (queue)
    g_object_get (queue, "current-level-time", &level, NULL);
  return level;
}

/**
 * kaigi_recorder_get_queue_levels:
 * @self: a recorder
 * @video_ns: (out) (optional): raw video waiting for the H.264 encoder
 *   (the "vqueue" queue's `current-level-time`), in ns
 * @audio_ns: (out) (optional): raw audio waiting for the AAC encoder
 *   (the "aqueue" queue's `current-level-time`), in ns
 *
 * How far the encoders are behind the mixers. A recording that keeps real
 * time holds these near zero; a level that grows towards the queues' 2 s
 * limit means the encoder is slower than the wall clock. For monitoring
 * (`/metrics`) and benchmarks. Main context only.
 *
 * Returns: %TRUE while the recording runs (both levels set), %FALSE once
 *   it is stopping or finished (both levels 0)
 */
gboolean
kaigi_recorder_get_queue_levels (KaigiRecorder *self,
                                 guint64       *video_ns,
                                 guint64       *audio_ns)
{
  gboolean running;

  g_return_val_if_fail (KAIGI_IS_RECORDER (self), FALSE);

  running = self->state == STATE_RUNNING && self->bin != NULL;
  if (video_ns)
    *video_ns = running ? queue_level (self, "vqueue") : 0;
  if (audio_ns)
    *audio_ns = running ? queue_level (self, "aqueue") : 0;
  return running;
}
