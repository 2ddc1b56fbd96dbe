/* kaigi-bench.c — forwarding benchmark for the Kaigi SFU
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Starts the real server as a child process and joins one room with N
 * synthetic participants that all live in this process. Each participant is
 * a webrtcbin client speaking docs/protocol.md over the real WebSocket; it
 * publishes 640x360 VP8 at 30 fps and Opus, and subscribes to everybody
 * else. The clients are kept cheap so that the server is what is measured:
 * the media is encoded once at startup and the same encoded frames are
 * pushed, paced by one thread, through appsrc → payloader → webrtcbin;
 * received streams are only depayloaded (video) or counted (audio), never
 * decoded.
 *
 * Every client publishes with an SSRC derived from its index and the server
 * forwards packets with their SSRC and sequence number unchanged, so the
 * time at which packet (SSRC, seq) entered the publisher's webrtcbin and
 * the time at which it left the subscriber's webrtcbin can be compared on
 * the one monotonic clock of this process.
 *
 * See bench/README.md for the columns of the table this prints.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/app/app.h>
#include <gst/rtp/rtp.h>
#include <gst/sdp/sdp.h>
#include <gst/video/video.h>
#include <gst/webrtc/webrtc.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

GST_DEBUG_CATEGORY_STATIC (kaigi_bench_debug);
#define GST_CAT_DEFAULT kaigi_bench_debug

#define MAX_CLIENTS 32
#define SSRC_BASE 0x4b416900u   /* "KAi" + index * 2 + kind */
#define VIDEO_FPS 30
#define AUDIO_FRAME_NS (20 * GST_MSECOND)
#define HIST_BIN_NS (10 * GST_USECOND)
#define HIST_BINS 100000        /* 10 µs bins up to 1 s, then one overflow bin */
#define PING_INTERVAL_S 5

typedef enum
{
  KIND_AUDIO = 0,
  KIND_VIDEO = 1,
  N_KINDS
} Kind;

static const char * const kind_names[N_KINDS] = {
  [KIND_AUDIO] = "audio",
  [KIND_VIDEO] = "video",
};

typedef struct
{
  char *server_path;
  char *server_args;
  char *participants;
  char *room;
  char *server_log;
  char *details_path;
  char *perf_path;
  char **ice_addresses;
  double warmup_s;
  double duration_s;
  double loss_percent;
  double stop_below_fps;
  int latency_ms;
  int video_kbps;
  double loss_run;
  gboolean direct;
  gboolean baseline;
  gboolean header;
  gboolean quiet;
  gboolean pin;
  gboolean record;
  double record_settle_s;
  char *recordings_dir;
} BenchOptions;

typedef struct
{
  GPtrArray *frames[N_KINDS];   /* GstBuffer */
  GstCaps *caps[N_KINDS];
  guint64 bytes[N_KINDS];
  guint n_keyframes;
} EncodedMedia;

typedef struct
{
  gint bins[HIST_BINS + 1];
  gint64 max_ns;
} Histogram;

typedef struct _Bench Bench;
typedef struct _BenchClient BenchClient;

/* One received track (a webrtcbin source pad) of one client */
typedef struct
{
  BenchClient *client;
  Kind kind;
  GMutex lock;
  gboolean have_seq;
  guint32 first_counter;
  guint32 max_counter;
  guint64 packets;
  guint64 frames;
  gint64 first_keyframe_ns;
  /* at the start of the measurement window */
  guint32 snap_max_counter;
  guint64 snap_packets;
  guint64 snap_frames;
  gboolean snap_valid;
} Subscription;

struct _BenchClient
{
  Bench *bench;
  guint index;
  char *name;
  gboolean offerer;             /* --direct: plays the server's part */
  BenchClient *peer;            /* --direct: the other client */

  GstElement *pipeline;
  GstElement *webrtc;
  GstElement *src[N_KINDS];
  GstPad *sink_pad[N_KINDS];
  GstClockTime base_time;
  guint bus_watch;

  SoupWebsocketConnection *ws;
  guint ping_source;
  gboolean stopped;
  char *failure;

  /* negotiation (main thread) */
  GQueue offers;                /* JsonObject */
  gboolean negotiating;
  gboolean setup_needed;
  GstSDPMessage *offer_sdp;
  char *publish_mid[N_KINDS];
  gboolean published;
  guint answer_wait_source;
  gint64 answer_deadline;
  guint n_answers;
  gint connection_state;        /* atomic, GstWebRTCPeerConnectionState */

  /* join time and its steps */
  gint64 join_sent_ns;
  gint64 offer_ns;              /* first offer received */
  gint64 answer_ns;             /* first answer sent */
  gint64 connected_ns;          /* atomic; peer connection connected */
  gint64 first_packet_ns;       /* under subs_lock; first remote RTP packet */
  gint64 first_frame_ns;        /* under subs_lock; first remote keyframe */

  GMutex subs_lock;
  GPtrArray *subs;              /* Subscription */

  gint n_sent[N_KINDS];         /* atomic, RTP packets stamped */

  /* pacer thread */
  gint sending;                 /* atomic */
  gint64 start_ns[N_KINDS];
  guint64 n_pushed[N_KINDS];
  gint64 next_ns[N_KINDS];
  guint frame_index[N_KINDS];
  gint keyframe_requested;      /* atomic */
  gint n_keyframe_requests;     /* atomic */
  guint n_keyframes_sent_early;

  /* loss injection (nicesink streaming thread) */
  GMutex loss_lock;
  GRand *loss_rand;
  guint64 rtp_out;
  guint64 rtp_dropped;
};

typedef struct
{
  GSubprocess *process;
  GDataInputStream *out;
  GCancellable *cancellable;
  int pid;
  guint port;
  gboolean exited;
} ServerProcess;

typedef struct
{
  gint64 ticks;
  guint64 rss_kb;
  guint threads;
} ProcSample;

/* Where a recorder thread's CPU goes, by its name (see classify_thread) */
typedef enum
{
  SHARE_DECODE,                 /* "queue#:src", "rtpjitterbuffer": jitterbuffer, depayloader,
                                 * decoder, convert, per track */
  SHARE_COMPOSE,                /* "vmix:src", "amix:src": compositor, audiomixer; and
                                 * GLib pool threads new since the recording started: the
                                 * compositor's parallel conversion and blending */
  SHARE_ENCODE_VIDEO,           /* "vqueue:src" and the x264 threads it starts */
  SHARE_ENCODE_AUDIO,           /* "aqueue:src": AAC encoder */
  SHARE_MUX,                    /* "mux:src": mp4mux (an aggregator) and filesink */
  SHARE_SOURCES,                /* live base sources, placeholders and name plates */
  SHARE_OTHER,                  /* any other thread new since the recording started */
  N_SHARES
} Share;

static const char * const share_names[N_SHARES] = {
  [SHARE_DECODE] = "decode",
  [SHARE_COMPOSE] = "compose",
  [SHARE_ENCODE_VIDEO] = "encode video",
  [SHARE_ENCODE_AUDIO] = "encode audio",
  [SHARE_MUX] = "mux",
  [SHARE_SOURCES] = "sources",
  [SHARE_OTHER] = "other",
};

typedef struct
{
  gboolean ok;
  char *note;

  double server_cpu;            /* cores */
  double bench_cpu;
  double other_cpu;
  double share[N_SHARES];       /* cores, threads of the recorder */
  guint share_threads[N_SHARES];
  double rss_mb;
  guint threads;

  double fps_min;
  double fps_mean;
  guint64 video_expected;
  guint64 video_lost;
  guint64 audio_expected;
  guint64 audio_lost;
  double lat_p50_ms[N_KINDS];
  double lat_p99_ms[N_KINDS];

  double wall_ms;               /* POST sent → DELETE sent */
  gint64 duration_ms;           /* the file's, from the DELETE reply */
  double stop_ms;               /* DELETE sent → its reply (the file is final) */

  guint n_levels;               /* /metrics samples during the window */
  double vqueue_max_ms;
  double vqueue_mean_ms;
  double vqueue_slope;          /* ms of queue per s of window, least squares */
  double aqueue_max_ms;
  double aqueue_mean_ms;

  char *file_path;              /* the recording, counted after the run */
  guint frames;                 /* video frames in the file */
} RecordResult;

typedef struct
{
  guint n;
  gboolean direct;
  double loss_percent;
  gboolean ok;
  char *note;

  double idle_cpu;              /* cores */
  double server_cpu;
  double bench_cpu;
  double other_cpu;             /* everything else on the machine */
  double idle_rss_mb;
  double rss_mb;
  guint idle_threads;
  guint threads;

  double join_p50_ms;
  double join_p95_ms;
  guint n_joins;
  guint n_join_missing;

  guint expected_subs;
  guint n_video_subs;
  double fps_min;
  double fps_mean;
  guint64 video_expected;
  guint64 video_lost;
  guint64 audio_expected;
  guint64 audio_lost;

  double lat_p50_ms[N_KINDS];
  double lat_p99_ms[N_KINDS];
  double lat_max_ms[N_KINDS];
  guint64 lat_count[N_KINDS];

  guint keyframe_requests;
  guint64 rtp_out;
  guint64 rtp_dropped;
  guint64 unstamped;

  RecordResult rec;             /* --record: the window while recording */
} RunResult;

struct _Bench
{
  BenchOptions opt;
  EncodedMedia media;
  SoupSession *session;
  char *exe_dir;

  GMutex clients_lock;
  GPtrArray *clients;           /* BenchClient, the current run */

  GThread *pacer;
  gint pacer_running;

  gint measuring;               /* atomic */
  double loss_percent;          /* of the current run */
  gboolean direct;              /* of the current run */
  Histogram *latency[N_KINDS];
  gint unstamped;               /* atomic, packets without our extension */

  ServerProcess server;
  GString *details;
  GArray *results;              /* RunResult */
  gboolean temp_recordings_dir; /* ours: recordings are deleted after counting */
};

static gboolean interrupted;

/* Helpers {{{ */

static inline gint64
now_ns (void)
{
  struct timespec ts;

  /* GstSystemClock's default clock-type is MONOTONIC: the same clock */
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * GST_SECOND + ts.tv_nsec;
}

static inline guint32
client_ssrc (guint index,
             Kind  kind)
{
  return SSRC_BASE + index * 2 + kind;
}

static void
details (Bench      *bench,
         const char *format,
         ...) G_GNUC_PRINTF (2, 3);

static void
details (Bench      *bench,
         const char *format,
         ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);

  g_string_append (bench->details, text);
  if (!bench->opt.quiet)
    fputs (text, stderr);
}

static void
iterate_for (double seconds)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);

  while (g_get_monotonic_time () < deadline && !interrupted)
    g_main_context_iteration (NULL, TRUE);
}

typedef gboolean (*Condition) (Bench   *bench,
                               gpointer data);

static gboolean
wait_until (Bench     *bench,
            Condition  condition,
            gpointer   data,
            double     timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);

  while (!condition (bench, data))
    {
      if (g_get_monotonic_time () >= deadline || interrupted)
        return FALSE;
      g_main_context_iteration (NULL, TRUE);
    }
  return TRUE;
}

static gboolean
on_tick (gpointer user_data)
{
  /* keeps g_main_context_iteration() from sleeping past deadlines */
  return G_SOURCE_CONTINUE;
}

static gboolean
on_interrupt (gpointer user_data)
{
  interrupted = TRUE;
  return G_SOURCE_CONTINUE;
}

/* Runs @func on the main context later, never synchronously, holding a
 * reference to @client. */
typedef struct
{
  BenchClient *client;
  GstPromise *promise;
  char *text;
  guint number;
} Hop;

static BenchClient *bench_client_ref (BenchClient *client);
static void bench_client_unref (BenchClient *client);

static void
hop_free (gpointer data)
{
  Hop *hop = data;

  bench_client_unref (hop->client);
  g_clear_pointer (&hop->promise, gst_promise_unref);
  g_free (hop->text);
  g_free (hop);
}

static Hop *
hop_new (BenchClient *client)
{
  Hop *hop = g_new0 (Hop, 1);

  hop->client = bench_client_ref (client);
  return hop;
}

static void
hop (Hop         *hop,
     GSourceFunc  func)
{
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, func, hop, hop_free);
  g_source_set_static_name (source, "[kaigi-bench] hop");
  g_source_attach (source, NULL);
  g_source_unref (source);
}

static void
client_fail (BenchClient *client,
             const char  *format,
             ...) G_GNUC_PRINTF (2, 3);

static void
client_fail (BenchClient *client,
             const char  *format,
             ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);

  g_printerr ("kaigi-bench: %s: %s\n", client->name, text);
  if (client->failure == NULL)
    client->failure = g_steal_pointer (&text);
}

/* Whether the promise was replied to without an error; fills @message. */
static gboolean
promise_ok (GstPromise  *promise,
            const char  *what,
            char       **message)
{
  const GstStructure *reply;
  g_autoptr(GError) error = NULL;

  if (gst_promise_wait (promise) != GST_PROMISE_RESULT_REPLIED)
    {
      *message = g_strdup_printf ("%s: no reply", what);
      return FALSE;
    }

  reply = gst_promise_get_reply (promise);
  if (reply != NULL && gst_structure_has_field (reply, "error"))
    {
      gst_structure_get (reply, "error", G_TYPE_ERROR, &error, NULL);
      *message = g_strdup_printf ("%s failed: %s", what, error ? error->message : "unknown error");
      return FALSE;
    }
  return TRUE;
}

static double
percentile (GArray *values,
            double  p)
{
  double rank;
  guint lo;

  if (values->len == 0)
    return NAN;
  rank = p / 100.0 * (values->len - 1);
  lo = (guint) rank;
  if (lo + 1 >= values->len)
    return g_array_index (values, double, values->len - 1);
  return g_array_index (values, double, lo) +
         (rank - lo) * (g_array_index (values, double, lo + 1) - g_array_index (values, double, lo));
}

static int
compare_double (gconstpointer a,
                gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y ? 1 : 0;
}

/* }}} */

/* Latency histograms {{{ */

static void
histogram_add (Histogram *h,
               gint64     ns)
{
  gint64 bin = ns / HIST_BIN_NS;
  gint64 max;

  if (bin < 0)
    bin = 0;
  if (bin > HIST_BINS)
    bin = HIST_BINS;
  g_atomic_int_inc (&h->bins[bin]);

  max = __atomic_load_n (&h->max_ns, __ATOMIC_RELAXED);
  while (ns > max && !__atomic_compare_exchange_n (&h->max_ns, &max, ns, TRUE,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    ;
}

static guint64
histogram_count (const Histogram *h)
{
  guint64 n = 0;

  for (guint i = 0; i <= HIST_BINS; i++)
    n += (guint) g_atomic_int_get (&h->bins[i]);
  return n;
}

/* Upper edge of the bin holding the p-th percentile, in ms */
static double
histogram_percentile_ms (const Histogram *h,
                         double           p)
{
  guint64 total = histogram_count (h), seen = 0;
  guint64 rank;

  if (total == 0)
    return NAN;
  rank = (guint64) (p / 100.0 * total);
  if (rank >= total)
    rank = total - 1;
  for (guint i = 0; i <= HIST_BINS; i++)
    {
      seen += (guint) h->bins[i];
      if (seen > rank)
        return (double) ((i + 1) * HIST_BIN_NS) / GST_MSECOND;
    }
  return (double) h->max_ns / GST_MSECOND;
}

/* }}} */

/* Pre-encoded media {{{ */

static gboolean
encode (const char  *description,
        GPtrArray   *frames,
        GstCaps    **caps,
        guint64     *bytes,
        GError     **error)
{
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GstElement) sink = NULL;
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstMessage) message = NULL;

  pipeline = gst_parse_launch (description, error);
  if (pipeline == NULL)
    return FALSE;

  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);

  for (;;)
    {
      g_autoptr(GstSample) sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
                                                                  30 * GST_SECOND);
      GstBuffer *buffer;

      if (sample == NULL)
        break;
      buffer = gst_sample_get_buffer (sample);
      if (*caps == NULL)
        *caps = gst_caps_ref (gst_sample_get_caps (sample));
      if (GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_HEADER))
        continue;
      *bytes += gst_buffer_get_size (buffer);
      g_ptr_array_add (frames, gst_buffer_ref (buffer));
    }

  message = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  if (message != NULL)
    {
      gst_message_parse_error (message, error, NULL);
      return FALSE;
    }
  if (frames->len == 0 || *caps == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "encoder produced nothing: %s", description);
      return FALSE;
    }
  return TRUE;
}

static gboolean
encode_media (Bench   *bench,
              GError **error)
{
  EncodedMedia *media = &bench->media;
  g_autofree char *video = NULL;
  gint64 start = g_get_monotonic_time ();

  /* 9 s of a moving zone plate: enough detail that the CBR encoder spends
   * its whole budget, like a camera would. Keyframes every 3 s (also across
   * the loop), none larger than 10 average frames. */
  video = g_strdup_printf (
    "videotestsrc num-buffers=270 pattern=zone-plate kx2=20 ky2=20 kt=1 ! "
    "video/x-raw,format=I420,width=640,height=360,framerate=%d/1 ! "
    "vp8enc deadline=1 cpu-used=4 threads=2 end-usage=cbr target-bitrate=%d "
    "keyframe-max-dist=90 max-intra-bitrate=1000 lag-in-frames=0 error-resilient=default ! "
    "appsink name=sink sync=false", VIDEO_FPS, bench->opt.video_kbps * 1000);

  for (guint k = 0; k < N_KINDS; k++)
    media->frames[k] = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);

  if (!encode (video, media->frames[KIND_VIDEO], &media->caps[KIND_VIDEO],
               &media->bytes[KIND_VIDEO], error))
    return FALSE;

  if (!encode ("audiotestsrc num-buffers=50 samplesperbuffer=960 wave=sine freq=440 ! "
               "audio/x-raw,format=S16LE,rate=48000,channels=1 ! "
               "opusenc bitrate=32000 bitrate-type=cbr frame-size=20 ! "
               "appsink name=sink sync=false",
               media->frames[KIND_AUDIO], &media->caps[KIND_AUDIO],
               &media->bytes[KIND_AUDIO], error))
    return FALSE;

  for (guint i = 0; i < media->frames[KIND_VIDEO]->len; i++)
    if (!GST_BUFFER_FLAG_IS_SET (g_ptr_array_index (media->frames[KIND_VIDEO], i),
                                 GST_BUFFER_FLAG_DELTA_UNIT))
      media->n_keyframes++;

  if (media->n_keyframes == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the encoded video has no keyframe");
      return FALSE;
    }

  details (bench, "Pre-encoded %u VP8 frames (%u keyframes, %.0f kbit/s) and %u Opus frames "
           "(%.0f kbit/s) in %.1f s\n",
           media->frames[KIND_VIDEO]->len, media->n_keyframes,
           media->bytes[KIND_VIDEO] * 8.0 / (media->frames[KIND_VIDEO]->len / (double) VIDEO_FPS) / 1000,
           media->frames[KIND_AUDIO]->len,
           media->bytes[KIND_AUDIO] * 8.0 / (media->frames[KIND_AUDIO]->len * 0.02) / 1000,
           (g_get_monotonic_time () - start) / 1e6);
  return TRUE;
}

/* }}} */

/* Pacer: one thread pushes every client's frames {{{ */

static void
push_frame (BenchClient *client,
            Kind         kind,
            gint64       now)
{
  EncodedMedia *media = &client->bench->media;
  GPtrArray *frames = media->frames[kind];
  GstBuffer *buffer;

  if (kind == KIND_VIDEO && g_atomic_int_compare_and_exchange (&client->keyframe_requested, 1, 0))
    {
      /* Answer a keyframe request (PLI) with the next pre-encoded keyframe */
      for (guint i = 0; i < frames->len; i++)
        {
          guint index = (client->frame_index[kind] + i) % frames->len;

          if (!GST_BUFFER_FLAG_IS_SET (g_ptr_array_index (frames, index), GST_BUFFER_FLAG_DELTA_UNIT))
            {
              if (i > 0)
                client->n_keyframes_sent_early++;
              client->frame_index[kind] = index;
              break;
            }
        }
    }

  buffer = gst_buffer_copy (g_ptr_array_index (frames, client->frame_index[kind]));
  client->frame_index[kind] = (client->frame_index[kind] + 1) % frames->len;

  GST_BUFFER_PTS (buffer) = now - client->base_time;
  GST_BUFFER_DTS (buffer) = GST_BUFFER_PTS (buffer);
  GST_BUFFER_DURATION (buffer) = kind == KIND_VIDEO ? GST_SECOND / VIDEO_FPS : AUDIO_FRAME_NS;
  GST_BUFFER_FLAG_UNSET (buffer, GST_BUFFER_FLAG_DISCONT);

  gst_app_src_push_buffer (GST_APP_SRC (client->src[kind]), buffer);
}

static gint64
frame_due (BenchClient *client,
           Kind         kind)
{
  if (kind == KIND_VIDEO)
    return client->start_ns[kind] + (gint64) (client->n_pushed[kind] * GST_SECOND / VIDEO_FPS);
  return client->start_ns[kind] + (gint64) (client->n_pushed[kind] * AUDIO_FRAME_NS);
}

static gpointer
pacer_thread (gpointer user_data)
{
  Bench *bench = user_data;

  while (g_atomic_int_get (&bench->pacer_running))
    {
      gint64 now = now_ns ();
      gint64 next = now + 5 * GST_MSECOND;
      struct timespec ts;

      g_mutex_lock (&bench->clients_lock);
      for (guint i = 0; bench->clients && i < bench->clients->len; i++)
        {
          BenchClient *client = g_ptr_array_index (bench->clients, i);

          if (!g_atomic_int_get (&client->sending))
            continue;

          for (Kind kind = 0; kind < N_KINDS; kind++)
            {
              if (client->start_ns[kind] == 0)
                {
                  /* Spread the clients over the frame interval, as real
                   * cameras are not synchronised */
                  client->start_ns[kind] = now + (gint64) (client->index * 7 + kind * 3) *
                                                 GST_MSECOND % (GST_SECOND / VIDEO_FPS);
                  client->n_pushed[kind] = 0;
                }

              while (frame_due (client, kind) <= now)
                {
                  if (now - frame_due (client, kind) > 200 * GST_MSECOND)
                    {
                      /* Stalled (not expected): restart the schedule */
                      client->start_ns[kind] = now;
                      client->n_pushed[kind] = 0;
                    }
                  push_frame (client, kind, now);
                  client->n_pushed[kind]++;
                }
              next = MIN (next, frame_due (client, kind));
            }
        }
      g_mutex_unlock (&bench->clients_lock);

      ts.tv_sec = next / GST_SECOND;
      ts.tv_nsec = next % GST_SECOND;
      while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
    }
  return NULL;
}

/* }}} */

/* Probes (streaming threads) {{{ */

/* Every packet a client publishes carries a one-byte RTP header extension
 * (RFC 8285) with a per-track packet counter and the time it was handed to
 * webrtcbin. The server forwards header extensions it does not know, but
 * not necessarily the sequence numbers (see bench/README.md), so the
 * counter, not the sequence number, identifies a packet end to end. */
#define BENCH_EXT_ID 14
#define BENCH_EXT_SIZE 12

/* user data of the probe on a payloader's source pad */
typedef struct
{
  BenchClient *client;
  Kind kind;
  gint64 t;
} SentPad;

static gboolean
stamp_sent (GstBuffer **buffer,
            guint       idx,
            gpointer    user_data)
{
  SentPad *sp = user_data;
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  guint8 data[BENCH_EXT_SIZE];
  guint32 counter = (guint32) g_atomic_int_add (&sp->client->n_sent[sp->kind], 1);

  GST_WRITE_UINT32_BE (data, counter);
  GST_WRITE_UINT64_BE (data + 4, (guint64) sp->t);

  *buffer = gst_buffer_make_writable (*buffer);
  if (!gst_rtp_buffer_map (*buffer, GST_MAP_READWRITE, &rtp))
    return TRUE;
  if (!gst_rtp_buffer_add_extension_onebyte_header (&rtp, BENCH_EXT_ID, data, sizeof data))
    g_atomic_int_inc (&sp->client->bench->unstamped);
  gst_rtp_buffer_unmap (&rtp);
  return TRUE;
}

/* On the payloader's source pad, right before the webrtcbin sink pad */
static GstPadProbeReturn
on_rtp_sent (GstPad          *pad,
             GstPadProbeInfo *info,
             gpointer         user_data)
{
  SentPad *sp = user_data;
  SentPad d = { sp->client, sp->kind, now_ns () };

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    {
      GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);

      stamp_sent (&buffer, 0, &d);
      GST_PAD_PROBE_INFO_DATA (info) = buffer;
    }
  else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    {
      GstBufferList *list = gst_buffer_list_make_writable (GST_PAD_PROBE_INFO_BUFFER_LIST (info));

      gst_buffer_list_foreach (list, stamp_sent, &d);
      GST_PAD_PROBE_INFO_DATA (info) = list;
    }
  return GST_PAD_PROBE_OK;
}

static void
subscription_record (Subscription *sub,
                     GstBuffer    *buffer,
                     gint64        t)
{
  Bench *bench = sub->client->bench;
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  gpointer data = NULL;
  guint size = 0;
  guint32 counter;
  gint64 sent;

  if (!gst_rtp_buffer_map (buffer, GST_MAP_READ, &rtp))
    return;
  if (!gst_rtp_buffer_get_extension_onebyte_header (&rtp, BENCH_EXT_ID, 0, &data, &size) ||
      size < BENCH_EXT_SIZE)
    {
      gst_rtp_buffer_unmap (&rtp);
      g_atomic_int_inc (&bench->unstamped);
      return;
    }
  counter = GST_READ_UINT32_BE (data);
  sent = (gint64) GST_READ_UINT64_BE ((guint8 *) data + 4);
  gst_rtp_buffer_unmap (&rtp);

  if (!sub->have_seq)
    {
      g_mutex_lock (&sub->client->subs_lock);
      if (sub->client->first_packet_ns == 0)
        sub->client->first_packet_ns = t;
      g_mutex_unlock (&sub->client->subs_lock);
    }

  g_mutex_lock (&sub->lock);
  if (!sub->have_seq || counter > sub->max_counter)
    sub->max_counter = counter;
  if (!sub->have_seq)
    sub->first_counter = counter;
  sub->have_seq = TRUE;
  sub->packets++;
  g_mutex_unlock (&sub->lock);

  if (g_atomic_int_get (&bench->measuring) && t >= sent)
    histogram_add (bench->latency[sub->kind], t - sent);
}

typedef struct
{
  Subscription *sub;
  gint64 t;
} ReceivedData;

static gboolean
record_received (GstBuffer **buffer,
                 guint       idx,
                 gpointer    user_data)
{
  ReceivedData *d = user_data;

  subscription_record (d->sub, *buffer, d->t);
  return TRUE;
}

/* On webrtcbin's source pad: the packet has left the subscriber's webrtcbin */
static GstPadProbeReturn
on_rtp_received (GstPad          *pad,
                 GstPadProbeInfo *info,
                 gpointer         user_data)
{
  ReceivedData d = { user_data, now_ns () };

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    subscription_record (d.sub, GST_PAD_PROBE_INFO_BUFFER (info), d.t);
  else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    gst_buffer_list_foreach (GST_PAD_PROBE_INFO_BUFFER_LIST (info), record_received, &d);
  return GST_PAD_PROBE_OK;
}

/* After rtpvp8depay: one buffer per frame */
static GstPadProbeReturn
on_frame (GstPad          *pad,
          GstPadProbeInfo *info,
          gpointer         user_data)
{
  Subscription *sub = user_data;
  BenchClient *client = sub->client;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  gint64 t = now_ns ();

  g_mutex_lock (&sub->lock);
  sub->frames++;
  if (sub->first_keyframe_ns == 0 && !GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT))
    sub->first_keyframe_ns = t;
  g_mutex_unlock (&sub->lock);

  if (!GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT))
    {
      g_mutex_lock (&client->subs_lock);
      if (client->first_frame_ns == 0)
        client->first_frame_ns = t;
      g_mutex_unlock (&client->subs_lock);
    }
  return GST_PAD_PROBE_OK;
}

/* Keyframe requests arrive at the appsrc as upstream force-key-unit events
 * (webrtcbin turns a PLI or FIR into one) */
static GstPadProbeReturn
on_upstream_event (GstPad          *pad,
                   GstPadProbeInfo *info,
                   gpointer         user_data)
{
  BenchClient *client = user_data;

  if (gst_video_event_is_force_key_unit (GST_PAD_PROBE_INFO_EVENT (info)))
    {
      g_atomic_int_set (&client->keyframe_requested, 1);
      g_atomic_int_inc (&client->n_keyframe_requests);
    }
  return GST_PAD_PROBE_OK;
}

/* RTP, not RTCP (RFC 5761 §4), not DTLS or STUN */
static gboolean
is_outgoing_rtp (GstBuffer *buffer)
{
  guint8 b[2];

  if (gst_buffer_extract (buffer, 0, b, 2) != 2)
    return FALSE;
  return (b[0] & 0xc0) == 0x80 && !(b[1] >= 192 && b[1] <= 223);
}

static gboolean
loss_drop (BenchClient *client,
           GstBuffer   *buffer)
{
  gboolean drop = FALSE;

  if (!is_outgoing_rtp (buffer))
    return FALSE;

  g_mutex_lock (&client->loss_lock);
  client->rtp_out++;
  if (g_rand_double (client->loss_rand) * 100.0 < client->bench->loss_percent)
    {
      client->rtp_dropped++;
      drop = TRUE;
    }
  g_mutex_unlock (&client->loss_lock);
  return drop;
}

static gboolean
loss_filter_list (GstBuffer **buffer,
                  guint       idx,
                  gpointer    user_data)
{
  if (loss_drop (user_data, *buffer))
    gst_clear_buffer (buffer);
  return TRUE;
}

static GstPadProbeReturn
on_nicesink_data (GstPad          *pad,
                  GstPadProbeInfo *info,
                  gpointer         user_data)
{
  BenchClient *client = user_data;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    return loss_drop (client, GST_PAD_PROBE_INFO_BUFFER (info)) ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    {
      GstBufferList *list = gst_buffer_list_make_writable (GST_PAD_PROBE_INFO_BUFFER_LIST (info));

      gst_buffer_list_foreach (list, loss_filter_list, client);
      GST_PAD_PROBE_INFO_DATA (info) = list;
      if (gst_buffer_list_length (list) == 0)
        return GST_PAD_PROBE_DROP;
    }
  return GST_PAD_PROBE_OK;
}

/* }}} */

/* Client: webrtcbin {{{ */

static BenchClient *
bench_client_ref (BenchClient *client)
{
  return g_atomic_rc_box_acquire (client);
}

static void
subscription_free (gpointer data)
{
  Subscription *sub = data;

  g_mutex_clear (&sub->lock);
  g_free (sub);
}

static void
bench_client_clear (BenchClient *client)
{
  g_clear_pointer (&client->subs, g_ptr_array_unref);
  g_mutex_clear (&client->subs_lock);
  g_mutex_clear (&client->loss_lock);
  g_clear_pointer (&client->loss_rand, g_rand_free);
  g_queue_clear_full (&client->offers, (GDestroyNotify) json_object_unref);
  g_clear_pointer (&client->offer_sdp, gst_sdp_message_free);
  for (guint k = 0; k < N_KINDS; k++)
    {
      g_clear_pointer (&client->publish_mid[k], g_free);
      gst_clear_object (&client->sink_pad[k]);
      gst_clear_object (&client->src[k]);
    }
  gst_clear_object (&client->webrtc);
  gst_clear_object (&client->pipeline);
  g_clear_object (&client->ws);
  g_free (client->failure);
  g_free (client->name);
}

static void
bench_client_unref (BenchClient *client)
{
  g_atomic_rc_box_release_full (client, (GDestroyNotify) bench_client_clear);
}

static void send_message (BenchClient *client,
                          JsonBuilder *builder);

static gboolean
ice_candidate_main (gpointer data)
{
  Hop *h = data;
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  if (h->client->stopped)
    return G_SOURCE_REMOVE;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "ice");
  json_builder_set_member_name (builder, "candidate");
  json_builder_add_string_value (builder, h->text);
  json_builder_set_member_name (builder, "sdpMLineIndex");
  json_builder_add_int_value (builder, h->number);
  json_builder_end_object (builder);
  send_message (h->client, builder);
  return G_SOURCE_REMOVE;
}

static void
on_ice_candidate (GstElement  *webrtc,
                  guint        mline,
                  const char  *candidate,
                  BenchClient *client)
{
  Hop *h = hop_new (client);

  GST_INFO ("%s: local candidate %u %s", client->name, mline, candidate);
  h->number = mline;
  h->text = g_strdup (candidate);
  hop (h, ice_candidate_main);
}

static void
on_connection_state (GObject     *webrtc,
                     GParamSpec  *pspec,
                     BenchClient *client)
{
  GstWebRTCPeerConnectionState state;

  g_object_get (webrtc, "connection-state", &state, NULL);
  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED && client->connected_ns == 0)
    __atomic_store_n (&client->connected_ns, now_ns (), __ATOMIC_RELAXED);
  g_atomic_int_set (&client->connection_state, state);
  GST_INFO ("%s: connection state %d", client->name, state);
}

static void
on_new_transceiver (GstElement              *webrtc,
                    GstWebRTCRTPTransceiver *trans,
                    BenchClient             *client)
{
  GstWebRTCKind kind = GST_WEBRTC_KIND_UNKNOWN;

  /* Transceivers that create-answer makes for the forwarded m-lines:
   * NACK lost video like a browser does (RFC 4585) */
  g_object_get (trans, "kind", &kind, NULL);
  if (kind == GST_WEBRTC_KIND_VIDEO)
    g_object_set (trans, "do-nack", TRUE, NULL);
}

static void
on_deep_element_added (GstBin      *bin,
                       GstBin      *sub_bin,
                       GstElement  *element,
                       BenchClient *client)
{
  GstElementFactory *factory = gst_element_get_factory (element);
  const char *name = factory ? GST_OBJECT_NAME (factory) : NULL;

  if (g_strcmp0 (name, "rtpjitterbuffer") == 0)
    {
      /* The default declares late-but-in-order packets lost and drops them */
      g_object_set (element, "rtx-next-seqnum", FALSE, NULL);
    }
  else if (g_strcmp0 (name, "clocksync") == 0)
    {
      /* The pacer already sends in real time; syncing again would add the
       * pipeline latency to every packet before it is measured as sent */
      g_object_set (element, "sync", FALSE, NULL);
    }
  else if (g_strcmp0 (name, "nicesink") == 0 && client->bench->loss_percent > 0)
    {
      g_autoptr(GstPad) pad = gst_element_get_static_pad (element, "sink");

      gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
                         on_nicesink_data, client, NULL);
    }
}

/* webrtcbin streaming thread: a forwarded track starts */
static void
on_pad_added (GstElement  *webrtc,
              GstPad      *pad,
              BenchClient *client)
{
  g_autoptr(GstCaps) caps = NULL;
  g_autoptr(GstPad) sinkpad = NULL;
  g_autoptr(GstPad) framepad = NULL;
  const GstStructure *s;
  const char *encoding = NULL;
  GstElement *sink;
  GstElement *depay = NULL;
  Subscription *sub;

  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
    return;

  caps = gst_pad_get_current_caps (pad);
  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  s = gst_caps_get_size (caps) > 0 ? gst_caps_get_structure (caps, 0) : NULL;
  if (s != NULL)
    encoding = gst_structure_get_string (s, "encoding-name");

  sink = gst_element_factory_make ("fakesink", NULL);
  g_object_set (sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE, NULL);
  gst_bin_add (GST_BIN (client->pipeline), sink);

  if (g_strcmp0 (encoding, "VP8") != 0 && g_strcmp0 (encoding, "OPUS") != 0)
    {
      g_printerr ("kaigi-bench: %s: ignoring a %s stream\n", client->name,
                  encoding ? encoding : "(unknown)");
      gst_element_sync_state_with_parent (sink);
      sinkpad = gst_element_get_static_pad (sink, "sink");
      gst_pad_link (pad, sinkpad);
      return;
    }

  sub = g_new0 (Subscription, 1);
  g_mutex_init (&sub->lock);
  sub->client = client;
  sub->kind = g_strcmp0 (encoding, "VP8") == 0 ? KIND_VIDEO : KIND_AUDIO;

  if (sub->kind == KIND_VIDEO)
    {
      depay = gst_element_factory_make ("rtpvp8depay", NULL);
      gst_bin_add (GST_BIN (client->pipeline), depay);
      gst_element_link (depay, sink);
      framepad = gst_element_get_static_pad (sink, "sink");
      gst_pad_add_probe (framepad, GST_PAD_PROBE_TYPE_BUFFER, on_frame, sub, NULL);
      gst_element_sync_state_with_parent (sink);
      gst_element_sync_state_with_parent (depay);
      sinkpad = gst_element_get_static_pad (depay, "sink");
    }
  else
    {
      gst_element_sync_state_with_parent (sink);
      sinkpad = gst_element_get_static_pad (sink, "sink");
    }

  g_mutex_lock (&client->subs_lock);
  g_ptr_array_add (client->subs, sub);
  g_mutex_unlock (&client->subs_lock);

  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
                     on_rtp_received, sub, NULL);
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    g_printerr ("kaigi-bench: %s: cannot link %s\n", client->name, GST_PAD_NAME (pad));
}

static gboolean
on_bus_message (GstBus     *bus,
                GstMessage *message,
                gpointer    user_data)
{
  BenchClient *client = user_data;

  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *debug = NULL;

      gst_message_parse_error (message, &error, &debug);
      client_fail (client, "pipeline error from %s: %s", GST_OBJECT_NAME (GST_MESSAGE_SRC (message)),
                   error->message);
    }
  /* As a browser, send RTCP sender reports the server can use for lip
   * sync: rtpsession maps PTS to the SR's RTP time only after a LATENCY
   * event, and webrtcbin's send chain comes after PLAYING */
  else if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_LATENCY)
    gst_bin_recalculate_latency (GST_BIN (client->pipeline));
  return G_SOURCE_CONTINUE;
}

static BenchClient *
bench_client_new (Bench *bench,
                  guint  index)
{
  BenchClient *client = g_atomic_rc_box_new0 (BenchClient);
  g_autoptr(GObject) ice = NULL;
  g_autoptr(GObject) agent = NULL;
  g_autoptr(GstBus) bus = NULL;
  gboolean added = FALSE;

  g_assert (index < MAX_CLIENTS);

  client->bench = bench;
  client->index = index;
  client->name = g_strdup_printf ("bench-%02u", index);
  client->subs = g_ptr_array_new_with_free_func (subscription_free);
  g_mutex_init (&client->subs_lock);
  g_mutex_init (&client->loss_lock);
  client->loss_rand = g_rand_new_with_seed (0x6b616967 + index);
  g_queue_init (&client->offers);

  client->pipeline = gst_object_ref_sink (gst_pipeline_new (client->name));
  client->webrtc = gst_object_ref_sink (gst_element_factory_make ("webrtcbin", "webrtc"));
  g_object_set (client->webrtc,
                "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE,
                "latency", bench->opt.latency_ms,
                NULL);

  /* ICE on loopback only, no UPnP, no TCP */
  g_object_get (client->webrtc, "ice-agent", &ice, NULL);
  if (ice != NULL)
    {
      if (g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "ice-tcp"))
        g_object_set (ice, "ice-tcp", FALSE, NULL);
      if (g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "agent"))
        g_object_get (ice, "agent", &agent, NULL);
      if (agent != NULL && g_object_class_find_property (G_OBJECT_GET_CLASS (agent), "upnp"))
        g_object_set (agent, "upnp", FALSE, NULL);
      for (guint i = 0; bench->opt.ice_addresses != NULL && bench->opt.ice_addresses[i] != NULL; i++)
        {
          g_signal_emit_by_name (ice, "add-local-ip-address", bench->opt.ice_addresses[i], &added);
          if (!added)
            g_printerr ("kaigi-bench: %s: cannot use %s for ICE\n", client->name,
                        bench->opt.ice_addresses[i]);
        }
    }

  g_signal_connect (client->webrtc, "on-ice-candidate", G_CALLBACK (on_ice_candidate), client);
  g_signal_connect (client->webrtc, "pad-added", G_CALLBACK (on_pad_added), client);
  g_signal_connect (client->webrtc, "on-new-transceiver", G_CALLBACK (on_new_transceiver), client);
  g_signal_connect (client->webrtc, "deep-element-added", G_CALLBACK (on_deep_element_added), client);
  g_signal_connect (client->webrtc, "notify::connection-state", G_CALLBACK (on_connection_state),
                    client);

  gst_bin_add (GST_BIN (client->pipeline), client->webrtc);
  bus = gst_pipeline_get_bus (GST_PIPELINE (client->pipeline));
  client->bus_watch = gst_bus_add_watch (bus, on_bus_message, client);

  gst_element_set_state (client->pipeline, GST_STATE_PLAYING);
  return client;
}

static void
bench_client_stop (BenchClient *client)
{
  g_atomic_int_set (&client->sending, 0);
  client->stopped = TRUE;
  g_clear_handle_id (&client->ping_source, g_source_remove);
  g_clear_handle_id (&client->answer_wait_source, g_source_remove);
  g_clear_handle_id (&client->bus_watch, g_source_remove);

  if (client->ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (client->ws, client);
      if (soup_websocket_connection_get_state (client->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (client->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    }

  gst_element_set_state (client->pipeline, GST_STATE_NULL);
  g_signal_handlers_disconnect_by_data (client->webrtc, client);
}

/* }}} */

/* Client: publishing {{{ */

/* Caps of the first format of @media with @encoding, only the fields that
 * identify the codec (for codec-preferences and the sink pad) */
static GstCaps *
codec_caps_from_media (const GstSDPMedia *media,
                       const char        *encoding,
                       int               *pt_out)
{
  for (guint i = 0; i < gst_sdp_media_formats_len (media); i++)
    {
      int pt = (int) g_ascii_strtoll (gst_sdp_media_get_format (media, i), NULL, 10);
      g_autoptr(GstCaps) caps = gst_sdp_media_get_caps_from_media (media, pt);
      GstStructure *s;
      int clock_rate = 0;

      if (caps == NULL)
        continue;
      s = gst_caps_get_structure (caps, 0);
      if (g_ascii_strcasecmp (gst_structure_get_string (s, "encoding-name") ?: "", encoding) != 0)
        continue;

      gst_structure_get_int (s, "clock-rate", &clock_rate);
      *pt_out = pt;
      return gst_caps_new_simple ("application/x-rtp",
                                  "media", G_TYPE_STRING, gst_sdp_media_get_media (media),
                                  "encoding-name", G_TYPE_STRING, encoding,
                                  "clock-rate", G_TYPE_INT, clock_rate,
                                  "payload", G_TYPE_INT, pt,
                                  NULL);
    }
  return NULL;
}

static GstCaps *
default_codec_caps (Kind kind)
{
  if (kind == KIND_VIDEO)
    return gst_caps_from_string ("application/x-rtp, media=(string)video, encoding-name=(string)VP8, "
                                 "clock-rate=(int)90000, payload=(int)96");
  return gst_caps_from_string ("application/x-rtp, media=(string)audio, encoding-name=(string)OPUS, "
                               "clock-rate=(int)48000, payload=(int)111, encoding-params=(string)2");
}

/* Builds appsrc → payloader for @kind and links it to @sinkpad, a
 * webrtcbin sink pad whose transceiver is already sendonly. */
static gboolean
link_publisher (BenchClient *client,
                Kind         kind,
                GstPad      *sinkpad,
                int          pt)
{
  Bench *bench = client->bench;
  GstElement *src = gst_element_factory_make ("appsrc", NULL);
  GstElement *pay = gst_element_factory_make (kind == KIND_VIDEO ? "rtpvp8pay" : "rtpopuspay", NULL);
  g_autoptr(GstPad) srcpad = NULL;
  g_autoptr(GstPad) paysrc = NULL;
  SentPad *sent;

  g_object_set (src,
                "is-live", TRUE,
                "format", GST_FORMAT_TIME,
                "caps", bench->media.caps[kind],
                "max-bytes", (guint64) 4 * 1024 * 1024,
                NULL);
  g_object_set (pay, "pt", (guint) pt, "ssrc", client_ssrc (client->index, kind), "mtu", 1200, NULL);
  if (kind == KIND_VIDEO)
    g_object_set (pay, "picture-id-mode", 2 /* 15-bit */, NULL);

  gst_bin_add_many (GST_BIN (client->pipeline), src, pay, NULL);
  if (!gst_element_link (src, pay))
    {
      client_fail (client, "cannot link appsrc to the %s payloader", kind_names[kind]);
      return FALSE;
    }

  paysrc = gst_element_get_static_pad (pay, "src");
  if (gst_pad_link (paysrc, sinkpad) != GST_PAD_LINK_OK)
    {
      client_fail (client, "cannot link the %s payloader to %s", kind_names[kind],
                   GST_PAD_NAME (sinkpad));
      return FALSE;
    }

  g_set_object (&client->sink_pad[kind], sinkpad);
  sent = g_new0 (SentPad, 1);
  sent->client = client;
  sent->kind = kind;
  gst_pad_add_probe (paysrc, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
                     on_rtp_sent, sent, g_free);

  if (kind == KIND_VIDEO)
    {
      srcpad = gst_element_get_static_pad (src, "src");
      gst_pad_add_probe (srcpad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, on_upstream_event, client, NULL);
    }

  client->src[kind] = gst_object_ref (src);
  gst_element_sync_state_with_parent (pay);
  gst_element_sync_state_with_parent (src);
  return TRUE;
}

static void
start_sending (BenchClient *client)
{
  Bench *bench = client->bench;

  if (client->src[KIND_AUDIO] == NULL || client->src[KIND_VIDEO] == NULL)
    return;

  client->base_time = gst_element_get_base_time (client->pipeline);
  g_mutex_lock (&bench->clients_lock);
  client->start_ns[KIND_AUDIO] = client->start_ns[KIND_VIDEO] = 0;
  g_atomic_int_set (&client->sending, 1);
  g_mutex_unlock (&bench->clients_lock);
}

/* Publishes on the m-lines named by offer.publish (docs/protocol.md): a
 * pad requested as "sink_<m-line>" is locked to that m-line's transceiver,
 * which is made sendonly with the offer's payload type before the answer. */
static void
setup_publishing (BenchClient *client)
{
  GstPadTemplate *templ = gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (client->webrtc),
                                                              "sink_%u");

  for (guint i = 0; i < gst_sdp_message_medias_len (client->offer_sdp); i++)
    {
      const GstSDPMedia *media = gst_sdp_message_get_media (client->offer_sdp, i);
      const char *mid = gst_sdp_media_get_attribute_val (media, "mid");
      Kind kind = g_strcmp0 (gst_sdp_media_get_media (media), "video") == 0 ? KIND_VIDEO : KIND_AUDIO;
      g_autoptr(GstCaps) caps = NULL;
      g_autoptr(GstPad) sinkpad = NULL;
      g_autoptr(GstWebRTCRTPTransceiver) trans = NULL;
      g_autofree char *pad_name = NULL;
      int pt = -1;

      if (mid == NULL || g_strcmp0 (mid, client->publish_mid[kind]) != 0 || client->sink_pad[kind])
        continue;

      caps = codec_caps_from_media (media, kind == KIND_VIDEO ? "VP8" : "OPUS", &pt);
      if (caps == NULL)
        {
          client_fail (client, "the publish m-line %u (%s) offers no %s", i, mid,
                       kind == KIND_VIDEO ? "VP8" : "Opus");
          continue;
        }

      pad_name = g_strdup_printf ("sink_%u", i);
      sinkpad = gst_element_request_pad (client->webrtc, templ, pad_name, caps);
      if (sinkpad == NULL)
        {
          client_fail (client, "webrtcbin refused the pad %s", pad_name);
          continue;
        }
      g_object_get (sinkpad, "transceiver", &trans, NULL);
      if (trans == NULL)
        {
          client_fail (client, "pad %s has no transceiver", pad_name);
          continue;
        }
      g_object_set (trans,
                    "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                    "codec-preferences", caps,
                    "do-nack", kind == KIND_VIDEO,
                    NULL);
      link_publisher (client, kind, sinkpad, pt);
    }

  client->published = client->sink_pad[KIND_AUDIO] != NULL && client->sink_pad[KIND_VIDEO] != NULL;
  if (!client->published)
    client_fail (client, "the offer names no publish m-lines we can use");
  start_sending (client);
}

static gboolean
sink_pads_ready (BenchClient *client)
{
  for (guint k = 0; k < N_KINDS; k++)
    if (client->sink_pad[k] != NULL && !gst_pad_has_current_caps (client->sink_pad[k]))
      return FALSE;
  return TRUE;
}

/* }}} */

/* Client: negotiation {{{ */

static void start_next_negotiation (BenchClient *client);
static void handle_message (BenchClient *client,
                            JsonObject  *object);

static void
finish_negotiation (BenchClient *client)
{
  g_clear_pointer (&client->offer_sdp, gst_sdp_message_free);
  client->negotiating = FALSE;
  start_next_negotiation (client);
}

static gboolean
local_description_set_main (gpointer data)
{
  Hop *h = data;
  g_autofree char *message = NULL;

  if (h->client->stopped)
    return G_SOURCE_REMOVE;
  if (!promise_ok (h->promise, "set-local-description", &message))
    client_fail (h->client, "%s", message);
  if (!h->client->offerer)
    finish_negotiation (h->client);
  return G_SOURCE_REMOVE;
}

static void
on_local_description_set (GstPromise *promise,
                          gpointer    user_data)
{
  Hop *h = hop_new (user_data);

  h->promise = gst_promise_ref (promise);
  hop (h, local_description_set_main);
}

static void
send_sdp (BenchClient *client,
          const char  *type,
          const char  *sdp)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, type);
  json_builder_set_member_name (builder, "sdp");
  json_builder_add_string_value (builder, sdp);
  if (g_str_equal (type, "offer"))
    {
      /* --direct: tell the answerer which m-lines it publishes on, as the
       * server does */
      json_builder_set_member_name (builder, "publish");
      json_builder_begin_object (builder);
      for (guint k = 0; k < N_KINDS; k++)
        {
          json_builder_set_member_name (builder, kind_names[k]);
          json_builder_add_string_value (builder, client->publish_mid[k]);
        }
      json_builder_end_object (builder);
    }
  json_builder_end_object (builder);
  send_message (client, builder);
}

static gboolean
description_created_main (gpointer data)
{
  Hop *h = data;
  BenchClient *client = h->client;
  g_autoptr(GstWebRTCSessionDescription) desc = NULL;
  g_autofree char *message = NULL;
  g_autofree char *text = NULL;
  const char *what = client->offerer ? "offer" : "answer";
  const GstStructure *reply;
  GstPromise *promise;

  if (client->stopped)
    return G_SOURCE_REMOVE;

  if (!promise_ok (h->promise, client->offerer ? "create-offer" : "create-answer", &message))
    {
      client_fail (client, "%s", message);
      finish_negotiation (client);
      return G_SOURCE_REMOVE;
    }

  /* webrtcbin 1.22 has been seen to reply without a description */
  reply = gst_promise_get_reply (h->promise);
  if (reply != NULL)
    gst_structure_get (reply, what, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, NULL);
  if (desc == NULL || desc->sdp == NULL)
    {
      client_fail (client, "create-%s replied without one", what);
      finish_negotiation (client);
      return G_SOURCE_REMOVE;
    }

  promise = gst_promise_new_with_change_func (on_local_description_set,
                                              bench_client_ref (client),
                                              (GDestroyNotify) bench_client_unref);
  g_signal_emit_by_name (client->webrtc, "set-local-description", desc, promise);
  gst_promise_unref (promise);

  if (client->offerer)
    {
      /* The answerer publishes on our recvonly m-lines */
      for (guint i = 0; i < gst_sdp_message_medias_len (desc->sdp); i++)
        {
          const GstSDPMedia *media = gst_sdp_message_get_media (desc->sdp, i);
          Kind kind = g_strcmp0 (gst_sdp_media_get_media (media), "video") == 0 ? KIND_VIDEO : KIND_AUDIO;

          for (guint a = 0; a < gst_sdp_media_attributes_len (media); a++)
            if (g_strcmp0 (gst_sdp_media_get_attribute (media, a)->key, "recvonly") == 0)
              {
                g_free (client->publish_mid[kind]);
                client->publish_mid[kind] = g_strdup (gst_sdp_media_get_attribute_val (media, "mid"));
              }
        }
    }

  text = gst_sdp_message_as_text (desc->sdp);
  send_sdp (client, what, text);
  if (client->answer_ns == 0)
    client->answer_ns = now_ns ();
  client->n_answers++;
  return G_SOURCE_REMOVE;
}

static void
on_description_created (GstPromise *promise,
                        gpointer    user_data)
{
  Hop *h = hop_new (user_data);

  h->promise = gst_promise_ref (promise);
  hop (h, description_created_main);
}

static gboolean
create_description_when_ready (gpointer user_data)
{
  BenchClient *client = user_data;
  GstPromise *promise;

  /* The answer carries our a=ssrc lines, which the server needs to tell
   * our bundled streams apart, only once the sink pads have caps */
  if (!sink_pads_ready (client) && g_get_monotonic_time () < client->answer_deadline)
    return G_SOURCE_CONTINUE;
  if (!sink_pads_ready (client))
    g_printerr ("kaigi-bench: %s: sink pads still without caps, going on\n", client->name);

  client->answer_wait_source = 0;
  promise = gst_promise_new_with_change_func (on_description_created,
                                              bench_client_ref (client),
                                              (GDestroyNotify) bench_client_unref);
  g_signal_emit_by_name (client->webrtc, client->offerer ? "create-offer" : "create-answer",
                         NULL, promise);
  gst_promise_unref (promise);
  return G_SOURCE_REMOVE;
}

static void
create_description (BenchClient *client)
{
  client->answer_deadline = g_get_monotonic_time () + 3 * G_USEC_PER_SEC;
  if (create_description_when_ready (client) == G_SOURCE_CONTINUE)
    client->answer_wait_source = g_timeout_add (5, create_description_when_ready, client);
}

static gboolean
remote_description_set_main (gpointer data)
{
  Hop *h = data;
  BenchClient *client = h->client;
  g_autofree char *message = NULL;

  if (client->stopped)
    return G_SOURCE_REMOVE;

  if (!promise_ok (h->promise, "set-remote-description", &message))
    {
      client_fail (client, "%s", message);
      if (!client->offerer)
        finish_negotiation (client);
      return G_SOURCE_REMOVE;
    }
  if (client->offerer)
    return G_SOURCE_REMOVE;

  setup_publishing (client);
  create_description (client);
  return G_SOURCE_REMOVE;
}

static void
on_remote_description_set (GstPromise *promise,
                           gpointer    user_data)
{
  BenchClient *client = user_data;
  const GstStructure *reply;
  Hop *h;

  /* webrtcbin 1.22 creates the transceivers of new m-lines only in
   * create-answer; a jitterbuffer made in between (a stream starting
   * elsewhere in the bundle) hits g_warn_if_reached() in
   * jitter_buffer_set_retransmission(). With nothing to set up, answer at
   * once from this thread to keep that window small. */
  if (!client->offerer && !client->setup_needed &&
      gst_promise_wait (promise) == GST_PROMISE_RESULT_REPLIED &&
      ((reply = gst_promise_get_reply (promise)) == NULL || !gst_structure_has_field (reply, "error")))
    {
      GstPromise *answer = gst_promise_new_with_change_func (on_description_created,
                                                             bench_client_ref (client),
                                                             (GDestroyNotify) bench_client_unref);

      g_signal_emit_by_name (client->webrtc, "create-answer", NULL, answer);
      gst_promise_unref (answer);
      return;
    }

  h = hop_new (client);
  h->promise = gst_promise_ref (promise);
  hop (h, remote_description_set_main);
}

static void
set_remote_description (BenchClient     *client,
                        GstWebRTCSDPType type,
                        const char      *text)
{
  g_autoptr(GstSDPMessage) sdp = NULL;
  GstWebRTCSessionDescription *desc;
  GstPromise *promise;

  if (text == NULL || gst_sdp_message_new_from_text (text, &sdp) != GST_SDP_OK ||
      gst_sdp_message_medias_len (sdp) == 0)
    {
      client_fail (client, "unusable SDP");
      if (!client->offerer)
        finish_negotiation (client);
      return;
    }

  if (type == GST_WEBRTC_SDP_TYPE_OFFER)
    gst_sdp_message_copy (sdp, &client->offer_sdp);
  desc = gst_webrtc_session_description_new (type, g_steal_pointer (&sdp));
  promise = gst_promise_new_with_change_func (on_remote_description_set,
                                              bench_client_ref (client),
                                              (GDestroyNotify) bench_client_unref);
  g_signal_emit_by_name (client->webrtc, "set-remote-description", desc, promise);
  gst_promise_unref (promise);
  gst_webrtc_session_description_free (desc);
}

static const char *
object_get_string (JsonObject *object,
                   const char *member)
{
  JsonNode *node = object ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static void
negotiate (BenchClient *client,
           JsonObject  *offer)
{
  JsonNode *node = json_object_get_member (offer, "publish");
  JsonObject *publish = node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;

  client->negotiating = TRUE;
  for (guint k = 0; k < N_KINDS; k++)
    {
      g_free (client->publish_mid[k]);
      client->publish_mid[k] = g_strdup (object_get_string (publish, kind_names[k]));
    }
  client->setup_needed = !client->published;
  set_remote_description (client, GST_WEBRTC_SDP_TYPE_OFFER, object_get_string (offer, "sdp"));
}

static void
start_next_negotiation (BenchClient *client)
{
  JsonObject *offer;

  if (client->negotiating || client->stopped)
    return;
  offer = g_queue_pop_head (&client->offers);
  if (offer == NULL)
    return;
  negotiate (client, offer);
  json_object_unref (offer);
}

/* }}} */

/* Client: signaling {{{ */

static gboolean
direct_deliver_main (gpointer data)
{
  Hop *h = data;
  g_autoptr(JsonParser) parser = json_parser_new ();

  if (h->client->stopped || !json_parser_load_from_data (parser, h->text, -1, NULL))
    return G_SOURCE_REMOVE;
  handle_message (h->client, json_node_get_object (json_parser_get_root (parser)));
  return G_SOURCE_REMOVE;
}

static void
send_message (BenchClient *client,
              JsonBuilder *builder)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  g_autofree char *text = NULL;

  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);

  if (client->peer != NULL)
    {
      Hop *h = hop_new (client->peer);

      h->text = g_steal_pointer (&text);
      hop (h, direct_deliver_main);
    }
  else if (client->ws != NULL && soup_websocket_connection_get_state (client->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    {
      soup_websocket_connection_send_text (client->ws, text);
    }
}

static void
send_simple (BenchClient *client,
             const char  *type)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, type);
  json_builder_end_object (builder);
  send_message (client, builder);
}

static void
handle_message (BenchClient *client,
                JsonObject  *object)
{
  const char *type = object_get_string (object, "type");

  if (g_strcmp0 (type, "offer") == 0)
    {
      if (client->offer_ns == 0)
        client->offer_ns = now_ns ();
      g_queue_push_tail (&client->offers, json_object_ref (object));
      start_next_negotiation (client);
    }
  else if (g_strcmp0 (type, "answer") == 0 && client->offerer)
    {
      set_remote_description (client, GST_WEBRTC_SDP_TYPE_ANSWER, object_get_string (object, "sdp"));
    }
  else if (g_strcmp0 (type, "ice") == 0)
    {
      const char *candidate = object_get_string (object, "candidate");
      JsonNode *index = json_object_get_member (object, "sdpMLineIndex");

      GST_INFO ("%s: remote candidate %s", client->name, candidate);
      if (candidate != NULL && *candidate != '\0' && index != NULL && JSON_NODE_HOLDS_VALUE (index))
        g_signal_emit_by_name (client->webrtc, "add-ice-candidate",
                               (guint) json_node_get_int (index), candidate);
    }
  else if (g_strcmp0 (type, "error") == 0)
    {
      client_fail (client, "server error %s: %s (request %s)", object_get_string (object, "code"),
                   object_get_string (object, "message"), object_get_string (object, "request"));
    }
}

static void
on_ws_message (SoupWebsocketConnection *ws,
               SoupWebsocketDataType    data_type,
               GBytes                  *message,
               BenchClient             *client)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data = g_bytes_get_data (message, &len);

  if (client->stopped || data_type != SOUP_WEBSOCKET_DATA_TEXT ||
      !json_parser_load_from_data (parser, data, (gssize) len, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return;
  handle_message (client, json_node_get_object (json_parser_get_root (parser)));
}

static void
on_ws_closed (SoupWebsocketConnection *ws,
              BenchClient             *client)
{
  if (!client->stopped)
    client_fail (client, "WebSocket closed (code %u)", soup_websocket_connection_get_close_code (ws));
}

static gboolean
on_ping (gpointer user_data)
{
  send_simple (user_data, "ping");
  return G_SOURCE_CONTINUE;
}

static void
on_ws_connected (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  BenchClient *client = user_data;
  g_autoptr(GError) error = NULL;
  SoupWebsocketConnection *ws;

  ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (ws == NULL)
    {
      client_fail (client, "WebSocket connect failed: %s", error->message);
      bench_client_unref (client);
      return;
    }
  if (client->stopped)
    {
      g_object_unref (ws);
      bench_client_unref (client);
      return;
    }

  client->ws = ws;
  soup_websocket_connection_set_max_incoming_payload_size (ws, 4 * 1024 * 1024);
  soup_websocket_connection_set_keepalive_interval (ws, 0);
  g_signal_connect (ws, "message", G_CALLBACK (on_ws_message), client);
  g_signal_connect (ws, "closed", G_CALLBACK (on_ws_closed), client);
  client->ping_source = g_timeout_add_seconds (PING_INTERVAL_S, on_ping, client);
  bench_client_unref (client);
}

static void
bench_client_connect (BenchClient *client,
                      guint        port)
{
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", port);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);

  soup_session_websocket_connect_async (client->bench->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        NULL, on_ws_connected, bench_client_ref (client));
}

static void
bench_client_send_join (BenchClient *client,
                        const char  *room)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "join");
  json_builder_set_member_name (builder, "room");
  json_builder_add_string_value (builder, room);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, client->name);
  json_builder_set_member_name (builder, "audio");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_set_member_name (builder, "video");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_end_object (builder);

  client->join_sent_ns = now_ns ();
  send_message (client, builder);
}

/* --direct: the offerer lays out its m-lines as the server does: first the
 * two recvonly m-lines on which the answerer publishes, then two sendonly
 * m-lines with its own tracks. (webrtcbin 1.22's create-answer matches a
 * "sink_N" pad's transceiver to the first compatible m-line, not to m-line
 * N, so the publish m-lines must come first.) */
static void
direct_offer (BenchClient *client)
{
  GstPadTemplate *templ = gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (client->webrtc),
                                                              "sink_%u");

  client->negotiating = TRUE;
  for (Kind kind = 0; kind < N_KINDS; kind++)
    {
      g_autoptr(GstCaps) caps = default_codec_caps (kind);
      g_autoptr(GstWebRTCRTPTransceiver) trans = NULL;

      g_signal_emit_by_name (client->webrtc, "add-transceiver",
                             GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, caps, &trans);
      if (trans != NULL)
        g_object_set (trans, "do-nack", kind == KIND_VIDEO, NULL);
    }
  for (Kind kind = 0; kind < N_KINDS; kind++)
    {
      g_autoptr(GstCaps) caps = default_codec_caps (kind);
      g_autofree char *name = g_strdup_printf ("sink_%u", 2 + kind);
      g_autoptr(GstPad) sinkpad = gst_element_request_pad (client->webrtc, templ, name, caps);
      g_autoptr(GstWebRTCRTPTransceiver) trans = NULL;

      g_object_get (sinkpad, "transceiver", &trans, NULL);
      g_object_set (trans,
                    "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                    "codec-preferences", caps,
                    "do-nack", kind == KIND_VIDEO,
                    NULL);
      link_publisher (client, kind, sinkpad, kind == KIND_VIDEO ? 96 : 111);
    }
  client->published = TRUE;
  start_sending (client);
  create_description (client);
}

/* }}} */

/* Server process and /proc {{{ */

static void read_server_line (ServerProcess *server);

static void
on_server_line (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  ServerProcess *server = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                                     result, NULL, &error);
  const char *prefix = "Kaigi listening on http://127.0.0.1:";

  if (line == NULL)
    return;                     /* EOF, error or cancelled */

  if (server->port == 0 && g_str_has_prefix (line, prefix))
    server->port = (guint) g_ascii_strtoull (line + strlen (prefix), NULL, 10);
  read_server_line (server);
}

static void
read_server_line (ServerProcess *server)
{
  g_data_input_stream_read_line_async (server->out, G_PRIORITY_DEFAULT, server->cancellable,
                                       on_server_line, server);
}

static void
on_server_exited (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  ServerProcess *server = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  server->exited = TRUE;
}

static gboolean
server_port_known (Bench   *bench,
                   gpointer data)
{
  return bench->server.port != 0 || bench->server.exited;
}

static gboolean
server_exited (Bench   *bench,
               gpointer data)
{
  return bench->server.exited;
}

static char *
default_server_path (Bench *bench)
{
  const char *env = g_getenv ("KAIGI_BENCH_SERVER");

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  /* build/bench/kaigi-bench → build/src/kaigi */
  return g_build_filename (bench->exe_dir, "..", "src", "kaigi", NULL);
}

static gboolean
pin_to_cpu (int cpu)
{
  cpu_set_t set;

  CPU_ZERO (&set);
  CPU_SET (cpu, &set);
  return sched_setaffinity (0, sizeof set, &set) == 0;
}

static void
pin_server (gpointer user_data)
{
  /* in the child, before exec: the server and all its threads on CPU 0 */
  pin_to_cpu (0);
}

static gboolean
server_start (Bench   *bench,
              GError **error)
{
  ServerProcess *server = &bench->server;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) extra = NULL;

  g_ptr_array_add (argv, g_strdup (bench->opt.server_path));
  g_ptr_array_add (argv, g_strdup ("--address"));
  g_ptr_array_add (argv, g_strdup ("127.0.0.1"));
  g_ptr_array_add (argv, g_strdup ("--port"));
  g_ptr_array_add (argv, g_strdup ("0"));
  if (bench->opt.server_args != NULL && !g_shell_parse_argv (bench->opt.server_args, NULL, &extra, error))
    return FALSE;
  if (bench->opt.record)
    {
      g_ptr_array_add (argv, g_strdup ("--recordings-dir"));
      g_ptr_array_add (argv, g_strdup (bench->opt.recordings_dir));
    }
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra[i]));
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        (bench->opt.server_log ? 0 : G_SUBPROCESS_FLAGS_STDERR_SILENCE));
  if (bench->opt.server_log != NULL)
    g_subprocess_launcher_set_stderr_file_path (launcher, bench->opt.server_log);
  if (bench->opt.pin)
    g_subprocess_launcher_set_child_setup (launcher, pin_server, NULL, NULL);

  memset (server, 0, sizeof *server);
  server->process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, error);
  if (server->process == NULL)
    return FALSE;
  server->pid = (int) g_ascii_strtoll (g_subprocess_get_identifier (server->process), NULL, 10);
  server->cancellable = g_cancellable_new ();
  server->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server->process));
  read_server_line (server);
  g_subprocess_wait_async (server->process, NULL, on_server_exited, server);

  if (!wait_until (bench, server_port_known, NULL, 15) || server->port == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s did not report its port",
                   bench->opt.server_path);
      return FALSE;
    }
  return TRUE;
}

static void
server_stop (Bench *bench)
{
  ServerProcess *server = &bench->server;

  if (server->process == NULL)
    return;
  if (!server->exited)
    {
      g_subprocess_send_signal (server->process, SIGTERM);
      if (!wait_until (bench, server_exited, NULL, 10))
        {
          g_printerr ("kaigi-bench: the server did not stop within 10 s; killing it\n");
          g_subprocess_force_exit (server->process);
          wait_until (bench, server_exited, NULL, 5);
        }
    }
  g_cancellable_cancel (server->cancellable);
  iterate_for (0.05);
  g_clear_object (&server->out);
  g_clear_object (&server->cancellable);
  g_clear_object (&server->process);
}

static gboolean
parse_stat (const char *contents,
            char      **comm,
            gint64     *ticks)
{
  const char *open = strchr (contents, '(');
  const char *close = strrchr (contents, ')');
  g_auto(GStrv) fields = NULL;

  if (open == NULL || close == NULL || close < open)
    return FALSE;
  if (comm != NULL)
    *comm = g_strndup (open + 1, close - open - 1);
  /* after ")": state(3) ppid(4) ... utime(14) stime(15) */
  fields = g_strsplit (close + 2, " ", 16);
  if (g_strv_length (fields) < 14)
    return FALSE;
  *ticks = g_ascii_strtoll (fields[11], NULL, 10) + g_ascii_strtoll (fields[12], NULL, 10);
  return TRUE;
}

static gboolean
proc_sample (int         pid,
             ProcSample *sample)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *contents = NULL;
  g_autofree char *status = NULL;
  g_auto(GStrv) lines = NULL;

  memset (sample, 0, sizeof *sample);
  if (!g_file_get_contents (path, &contents, NULL, NULL) || !parse_stat (contents, NULL, &sample->ticks))
    return FALSE;

  g_free (path);
  path = g_strdup_printf ("/proc/%d/status", pid);
  if (!g_file_get_contents (path, &status, NULL, NULL))
    return FALSE;
  lines = g_strsplit (status, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], "VmRSS:"))
        sample->rss_kb = g_ascii_strtoull (lines[i] + 6, NULL, 10);
      else if (g_str_has_prefix (lines[i], "Threads:"))
        sample->threads = (guint) g_ascii_strtoull (lines[i] + 8, NULL, 10);
    }
  return TRUE;
}

typedef struct
{
  char *name;
  gint64 ticks;
} ThreadTicks;

static void
thread_ticks_free (gpointer data)
{
  ThreadTicks *t = data;

  g_free (t->name);
  g_free (t);
}

/* tid → ThreadTicks */
static GHashTable *
proc_threads (int pid)
{
  GHashTable *threads = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, thread_ticks_free);
  g_autofree char *dir_path = g_strdup_printf ("/proc/%d/task", pid);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *tid;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir_path, tid, "stat", NULL);
      g_autofree char *contents = NULL;
      ThreadTicks *t = g_new0 (ThreadTicks, 1);

      if (!g_file_get_contents (path, &contents, NULL, NULL) ||
          !parse_stat (contents, &t->name, &t->ticks))
        {
          thread_ticks_free (t);
          continue;
        }
      g_hash_table_insert (threads, g_strdup (tid), t);
    }
  return threads;
}

typedef struct
{
  char *name;
  gint64 ticks;
  guint count;
} ThreadGroup;

static int
compare_group (gconstpointer a,
               gconstpointer b)
{
  const ThreadGroup *x = *(ThreadGroup * const *) a, *y = *(ThreadGroup * const *) b;

  return x->ticks < y->ticks ? 1 : x->ticks > y->ticks ? -1 : 0;
}

static void
thread_group_free (gpointer data)
{
  ThreadGroup *g = data;

  g_free (g->name);
  g_free (g);
}

/* CPU per thread name (digits folded into '#') between two samples */
static void
report_threads (Bench      *bench,
                GHashTable *before,
                GHashTable *after,
                double      seconds)
{
  g_autoptr(GHashTable) groups = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) sorted = g_ptr_array_new_with_free_func (thread_group_free);
  GHashTableIter iter;
  gpointer key, value;
  long hz = sysconf (_SC_CLK_TCK);

  g_hash_table_iter_init (&iter, after);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      ThreadTicks *t = value, *t0 = g_hash_table_lookup (before, key);
      g_autofree char *name = g_strdup (t->name);
      ThreadGroup *g;

      const char *colon = strchr (name, ':');

      if (colon != NULL && colon - name == 8 && strspn (name, "0123456789abcdef") == 8)
        {
          /* a participant's webrtcbin threads ("<id>:pc", "<id>:ice") */
          char *folded = g_strconcat ("<participant>", colon, NULL);

          g_free (name);
          name = folded;
        }
      for (char *p = name; *p; p++)
        if (g_ascii_isdigit (*p))
          *p = '#';
      g = g_hash_table_lookup (groups, name);
      if (g == NULL)
        {
          g = g_new0 (ThreadGroup, 1);
          g->name = g_steal_pointer (&name);
          g_hash_table_insert (groups, g->name, g);
          g_ptr_array_add (sorted, g);
        }
      g->ticks += t->ticks - (t0 ? t0->ticks : 0);
      g->count++;
    }

  g_ptr_array_sort (sorted, compare_group);
  details (bench, "  server CPU by thread name (%% of one core; threads):\n");
  for (guint i = 0; i < sorted->len; i++)
    {
      ThreadGroup *g = g_ptr_array_index (sorted, i);

      details (bench, "    %-18s %6.1f %%  %3u\n", g->name, 100.0 * g->ticks / hz / seconds, g->count);
    }
}

/* Busy ticks of the whole machine, all CPUs (/proc/stat) */
static gint64
system_busy_ticks (void)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) fields = NULL;
  gint64 busy = 0;

  if (!g_file_get_contents ("/proc/stat", &contents, NULL, NULL) || !g_str_has_prefix (contents, "cpu "))
    return 0;
  *strchr (contents, '\n') = '\0';
  fields = g_strsplit_set (contents + 4, " ", -1);
  /* user nice system idle iowait irq softirq steal … */
  for (guint i = 0, n = 0; fields[i] != NULL; i++)
    {
      if (*fields[i] == '\0')
        continue;
      if (n != 3 && n != 4 && n < 8)
        busy += g_ascii_strtoll (fields[i], NULL, 10);
      n++;
    }
  return busy;
}

static char *
cpu_model (void)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents ("/proc/cpuinfo", &contents, NULL, NULL))
    return g_strdup ("unknown");
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "model name"))
      {
        const char *colon = strchr (lines[i], ':');

        if (colon != NULL)
          return g_strstrip (g_strdup (colon + 1));
      }
  return g_strdup ("unknown");
}

static char *
git_revision (void)
{
#ifdef KAIGI_SOURCE_DIR
  g_autofree char *out = NULL;
  g_autofree char *status = NULL;
  const char *rev_argv[] = { "git", "-C", KAIGI_SOURCE_DIR, "rev-parse", "--short", "HEAD", NULL };
  const char *status_argv[] = { "git", "-C", KAIGI_SOURCE_DIR, "status", "--porcelain",
                                "--untracked-files=no", "--", "src", NULL };
  int wait_status = 0;

  if (!g_spawn_sync (NULL, (char **) rev_argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out, NULL, &wait_status, NULL) || wait_status != 0)
    return g_strdup ("unknown");
  g_strstrip (out);
  if (g_spawn_sync (NULL, (char **) status_argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                    NULL, NULL, &status, NULL, &wait_status, NULL) && status != NULL && *status != '\0')
    return g_strdup_printf ("%s (with uncommitted changes in src/)", out);
  return g_steal_pointer (&out);
#else
  return g_strdup ("unknown");
#endif
}

/* }}} */

/* A run {{{ */

typedef struct
{
  guint upto;
} JoinedData;

static gboolean
client_connected (Bench   *bench,
                  gpointer data)
{
  BenchClient *client = data;

  return client->ws != NULL || client->failure != NULL;
}

static guint
n_receiving (BenchClient *client,
             Kind         kind)
{
  guint n = 0;

  g_mutex_lock (&client->subs_lock);
  for (guint i = 0; i < client->subs->len; i++)
    {
      Subscription *sub = g_ptr_array_index (client->subs, i);

      if (sub->kind == kind && (kind == KIND_AUDIO ? sub->packets > 0 : sub->first_keyframe_ns > 0))
        n++;
    }
  g_mutex_unlock (&client->subs_lock);
  return n;
}

/* Every one of the first @upto clients receives the video of all others */
static gboolean
mesh_complete (Bench   *bench,
               gpointer data)
{
  JoinedData *d = data;

  for (guint i = 0; i < d->upto; i++)
    {
      BenchClient *client = g_ptr_array_index (bench->clients, i);

      if (n_receiving (client, KIND_VIDEO) < d->upto - 1 || n_receiving (client, KIND_AUDIO) < d->upto - 1)
        return FALSE;
    }
  return TRUE;
}

static gboolean
first_client_ready (Bench   *bench,
                    gpointer data)
{
  BenchClient *client = data;

  return client->failure != NULL ||
         (g_atomic_int_get (&client->connection_state) == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED &&
          g_atomic_int_get (&client->sending));
}

static void
snapshot_subscriptions (Bench *bench)
{
  for (guint i = 0; i < bench->clients->len; i++)
    {
      BenchClient *client = g_ptr_array_index (bench->clients, i);

      g_mutex_lock (&client->subs_lock);
      for (guint j = 0; j < client->subs->len; j++)
        {
          Subscription *sub = g_ptr_array_index (client->subs, j);

          g_mutex_lock (&sub->lock);
          sub->snap_max_counter = sub->max_counter;
          sub->snap_packets = sub->packets;
          sub->snap_frames = sub->frames;
          sub->snap_valid = sub->have_seq;
          g_mutex_unlock (&sub->lock);
        }
      g_mutex_unlock (&client->subs_lock);
    }
}

static void
collect_subscriptions (Bench     *bench,
                       RunResult *r,
                       double     seconds)
{
  g_autoptr(GArray) fps = g_array_new (FALSE, FALSE, sizeof (double));
  double sum = 0;

  for (guint i = 0; i < bench->clients->len; i++)
    {
      BenchClient *client = g_ptr_array_index (bench->clients, i);
      guint n_video = 0;

      g_mutex_lock (&client->subs_lock);
      for (guint j = 0; j < client->subs->len; j++)
        {
          Subscription *sub = g_ptr_array_index (client->subs, j);
          gint64 expected;
          gint64 received;
          guint64 frames;

          g_mutex_lock (&sub->lock);
          if (sub->snap_valid)
            {
              expected = (gint64) sub->max_counter - sub->snap_max_counter;
              received = sub->packets - sub->snap_packets;
            }
          else
            {
              /* started during the window */
              expected = sub->have_seq ? 1 + (gint64) sub->max_counter - sub->first_counter : 0;
              received = sub->packets;
            }
          frames = sub->frames - sub->snap_frames;
          g_mutex_unlock (&sub->lock);

          if (sub->kind == KIND_VIDEO)
            {
              double f = frames / seconds;

              n_video++;
              g_array_append_val (fps, f);
              r->video_expected += expected;
              r->video_lost += MAX (expected - received, 0);
            }
          else
            {
              r->audio_expected += expected;
              r->audio_lost += MAX (expected - received, 0);
            }
        }
      g_mutex_unlock (&client->subs_lock);

      /* tracks that never arrived count as 0 fps */
      for (guint m = n_video; m < bench->clients->len - 1; m++)
        {
          double zero = 0;

          g_array_append_val (fps, zero);
        }
    }

  r->n_video_subs = fps->len;
  r->fps_min = fps->len ? G_MAXDOUBLE : 0;
  for (guint i = 0; i < fps->len; i++)
    {
      double f = g_array_index (fps, double, i);

      sum += f;
      r->fps_min = MIN (r->fps_min, f);
    }
  r->fps_mean = fps->len ? sum / fps->len : 0;
}

static void
collect_joins (Bench     *bench,
               RunResult *r)
{
  g_autoptr(GArray) joins = g_array_new (FALSE, FALSE, sizeof (double));

  /* The first participant waits for the second; it is not a join time */
  for (guint i = 1; i < bench->clients->len; i++)
    {
      BenchClient *client = g_ptr_array_index (bench->clients, i);
      gint64 first;

      g_mutex_lock (&client->subs_lock);
      first = client->first_frame_ns;
      g_mutex_unlock (&client->subs_lock);
      if (first > 0 && client->join_sent_ns > 0)
        {
          double ms = (first - client->join_sent_ns) / 1e6;

          g_array_append_val (joins, ms);
        }
      else
        {
          r->n_join_missing++;
        }
    }
  g_array_sort (joins, compare_double);
  r->n_joins = joins->len;
  r->join_p50_ms = percentile (joins, 50);
  r->join_p95_ms = percentile (joins, 95);

  details (bench, "  join → first remote keyframe (ms), sorted:");
  for (guint i = 0; i < joins->len; i++)
    details (bench, " %.0f", g_array_index (joins, double, i));
  details (bench, "\n  join steps in join order, ms after `join`: offer / answer sent / connected / "
           "first remote packet / first remote keyframe\n");
  for (guint i = 1; i < bench->clients->len; i++)
    {
      BenchClient *client = g_ptr_array_index (bench->clients, i);
      gint64 steps[5];

      g_mutex_lock (&client->subs_lock);
      steps[0] = client->offer_ns;
      steps[1] = client->answer_ns;
      steps[2] = __atomic_load_n (&client->connected_ns, __ATOMIC_RELAXED);
      steps[3] = client->first_packet_ns;
      steps[4] = client->first_frame_ns;
      g_mutex_unlock (&client->subs_lock);
      details (bench, "    %s:", client->name);
      for (guint k = 0; k < G_N_ELEMENTS (steps); k++)
        {
          if (steps[k] > 0 && client->join_sent_ns > 0)
            details (bench, " %s%.0f", k ? "/ " : "", (steps[k] - client->join_sent_ns) / 1e6);
          else
            details (bench, " %s-", k ? "/ " : "");
        }
      details (bench, "\n");
    }
}

static void
clients_teardown (Bench *bench)
{
  g_autoptr(GPtrArray) clients = NULL;

  /* out of the pacer's sight first */
  g_mutex_lock (&bench->clients_lock);
  clients = g_steal_pointer (&bench->clients);
  bench->clients = g_ptr_array_new ();
  g_mutex_unlock (&bench->clients_lock);

  for (guint i = 0; i < clients->len; i++)
    {
      BenchClient *client = g_ptr_array_index (clients, i);

      client->peer = NULL;
      bench_client_stop (client);
    }
  iterate_for (0.2);            /* let queued hops run and drop their refs */
  for (guint i = 0; i < clients->len; i++)
    bench_client_unref (g_ptr_array_index (clients, i));
}

/* `perf record -g` of the server for one window, into PREFIX-N<suffix>.data */
static GSubprocess *
start_perf (Bench      *bench,
            guint       n,
            const char *suffix)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *pid = NULL;
  g_autofree char *secs = NULL;
  g_autofree char *path = NULL;
  GSubprocess *perf;

  if (bench->opt.perf_path == NULL)
    return NULL;
  pid = g_strdup_printf ("%d", bench->server.pid);
  secs = g_strdup_printf ("%.0f", bench->opt.duration_s);
  path = g_strdup_printf ("%s-%u%s.data", bench->opt.perf_path, n, suffix);
  perf = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                           &error, "perf", "record", "-g", "-o", path,
                           "-p", pid, "--", "sleep", secs, NULL);
  if (perf == NULL)
    details (bench, "  perf: %s\n", error->message);
  return perf;
}

/* Recording mode (--record) {{{ */

typedef struct
{
  gboolean done;
  guint status;
  GBytes *body;
  GError *error;
} HttpReply;

static void
on_http_reply (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  HttpReply *reply = user_data;

  reply->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &reply->error);
  reply->done = TRUE;
}

static gboolean
http_done (Bench   *bench,
           gpointer data)
{
  return ((HttpReply *) data)->done;
}

/* A request to the server, iterating the main context until the reply
 * (the clients keep running meanwhile). Returns the HTTP status, 0 on a
 * transport error or after @timeout_s; the reply's body in @body. */
static guint
http_request (Bench       *bench,
              const char  *method,
              const char  *path,
              char       **body,
              double       timeout_s)
{
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u%s", bench->server.port, path);
  g_autoptr(SoupMessage) msg = soup_message_new (method, uri);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  HttpReply reply = { 0, };
  guint status;

  if (body != NULL)
    *body = NULL;
  if (msg == NULL)
    return 0;
  soup_session_send_and_read_async (bench->session, msg, G_PRIORITY_DEFAULT, cancellable,
                                    on_http_reply, &reply);
  if (!wait_until (bench, http_done, &reply, timeout_s))
    {
      g_cancellable_cancel (cancellable);
      while (!reply.done)
        g_main_context_iteration (NULL, TRUE);
    }
  status = reply.error == NULL ? soup_message_get_status (msg) : 0;
  if (body != NULL && reply.body != NULL)
    {
      gsize size;
      const char *data = g_bytes_get_data (reply.body, &size);

      *body = g_strndup (data, size);
    }
  if (body != NULL && *body == NULL && reply.error != NULL)
    *body = g_strdup (reply.error->message);
  g_clear_pointer (&reply.body, g_bytes_unref);
  g_clear_error (&reply.error);
  return status;
}

/* Samples the encoder queue levels from /metrics every 500 ms */
typedef struct
{
  double t_s;                   /* since the start of the window */
  double video_ms;
  double audio_ms;
} LevelSample;

typedef struct
{
  Bench *bench;
  SoupMessage *msg;             /* the request in flight */
  GCancellable *cancellable;
  gint64 t0;
  gint64 sent;
  GArray *samples;              /* LevelSample */
  guint timer;
} LevelSampler;

static double
metric_value (const char *text,
              const char *name)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  gsize len = strlen (name);

  for (guint i = 0; lines[i] != NULL; i++)
    if (strncmp (lines[i], name, len) == 0 && lines[i][len] == ' ')
      return g_ascii_strtod (lines[i] + len + 1, NULL);
  return NAN;
}

static void
on_metrics (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  LevelSampler *sampler = user_data;
  g_autoptr(GBytes) bytes = soup_session_send_and_read_finish (SOUP_SESSION (source), result, NULL);

  if (bytes != NULL && soup_message_get_status (sampler->msg) == SOUP_STATUS_OK)
    {
      g_autofree char *text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
      LevelSample sample = {
        (sampler->sent - sampler->t0) / 1e9,
        1000 * metric_value (text, "kaigi_recording_video_queue_seconds"),
        1000 * metric_value (text, "kaigi_recording_audio_queue_seconds"),
      };

      if (!isnan (sample.video_ms) && !isnan (sample.audio_ms))
        g_array_append_val (sampler->samples, sample);
    }
  g_clear_object (&sampler->msg);
}

static gboolean
on_sample_levels (gpointer user_data)
{
  LevelSampler *sampler = user_data;
  g_autofree char *uri = NULL;

  if (sampler->msg != NULL)
    return G_SOURCE_CONTINUE;   /* the previous one is still out */
  uri = g_strdup_printf ("http://127.0.0.1:%u/metrics", sampler->bench->server.port);
  sampler->msg = soup_message_new ("GET", uri);
  sampler->sent = now_ns ();
  soup_session_send_and_read_async (sampler->bench->session, sampler->msg, G_PRIORITY_DEFAULT,
                                    sampler->cancellable, on_metrics, sampler);
  return G_SOURCE_CONTINUE;
}

static gboolean
sampler_idle (Bench   *bench,
              gpointer data)
{
  return ((LevelSampler *) data)->msg == NULL;
}

static void
sampler_start (LevelSampler *sampler,
               Bench        *bench)
{
  memset (sampler, 0, sizeof *sampler);
  sampler->bench = bench;
  sampler->cancellable = g_cancellable_new ();
  sampler->samples = g_array_new (FALSE, FALSE, sizeof (LevelSample));
  sampler->t0 = now_ns ();
  on_sample_levels (sampler);
  sampler->timer = g_timeout_add (500, on_sample_levels, sampler);
}

static void
sampler_stop (LevelSampler *sampler,
              RecordResult *rec)
{
  double n, st = 0, sv = 0, stt = 0, stv = 0;

  g_clear_handle_id (&sampler->timer, g_source_remove);
  /* a cancelled request still calls back, promptly; it must not outlive
   * @sampler */
  g_cancellable_cancel (sampler->cancellable);
  while (!sampler_idle (sampler->bench, sampler))
    g_main_context_iteration (NULL, TRUE);

  rec->n_levels = sampler->samples->len;
  for (guint i = 0; i < sampler->samples->len; i++)
    {
      LevelSample *s = &g_array_index (sampler->samples, LevelSample, i);

      rec->vqueue_max_ms = MAX (rec->vqueue_max_ms, s->video_ms);
      rec->aqueue_max_ms = MAX (rec->aqueue_max_ms, s->audio_ms);
      rec->vqueue_mean_ms += s->video_ms;
      rec->aqueue_mean_ms += s->audio_ms;
      st += s->t_s;
      sv += s->video_ms;
      stt += s->t_s * s->t_s;
      stv += s->t_s * s->video_ms;
    }
  n = sampler->samples->len;
  if (n > 0)
    {
      rec->vqueue_mean_ms /= n;
      rec->aqueue_mean_ms /= n;
    }
  rec->vqueue_slope = n >= 2 && n * stt - st * st > 0 ? (n * stv - st * sv) / (n * stt - st * st) : NAN;

  g_clear_object (&sampler->cancellable);
  g_clear_pointer (&sampler->samples, g_array_unref);
}

/* Which part of the recorder a thread belongs to, by the name GStreamer
 * gives a pad's streaming thread ("<element>:<pad>"). Threads a library
 * starts itself (x264's encoding threads, libvpx's) inherit the name of
 * the thread that started them, which is the streaming thread of their
 * element's branch. */
static Share
classify_thread (const char *name)
{
  if (g_str_equal (name, "vmix:src") || g_str_equal (name, "amix:src") || g_str_has_prefix (name, "pool-"))
    return SHARE_COMPOSE;
  if (g_str_equal (name, "mux:src"))
    return SHARE_MUX;
  if (g_str_equal (name, "vqueue:src") || g_str_has_prefix (name, "x264"))
    return SHARE_ENCODE_VIDEO;
  if (g_str_equal (name, "aqueue:src"))
    return SHARE_ENCODE_AUDIO;
  /* A decoding branch: its leaky queue's thread (depayloader, decoder)
   * and its jitterbuffer's ("rtpjitterbufferN:src" and its timer, both
   * named "rtpjitterbuffer" by the kernel's 15 characters) */
  if ((g_str_has_prefix (name, "queue") && g_str_has_suffix (name, ":src")) ||
      g_str_has_prefix (name, "rtpjitterbuffer"))
    return SHARE_DECODE;
  if (g_str_equal (name, "vbase:src") || g_str_equal (name, "abase:src") ||
      g_str_equal (name, "source:src"))
    return SHARE_SOURCES;
  return SHARE_OTHER;
}

static gboolean
is_recorder_only_name (const char *name)
{
  Share share = classify_thread (name);

  /* "queue#:src" is also the name of every webrtcbin's transport
   * receive queue, and GLib's pool threads serve anyone: only new
   * threads count */
  return share != SHARE_DECODE && share != SHARE_OTHER && !g_str_has_prefix (name, "pool-");
}

/* The recorder's threads: new since @pre, renamed since (a pooled thread
 * taken over by one of the recorder's tasks), or named like its elements.
 * Adds their CPU between @before and @after to @rec's shares. */
static void
attribute_recorder_threads (Bench        *bench,
                            RecordResult *rec,
                            GHashTable   *pre,
                            GHashTable   *before,
                            GHashTable   *after,
                            double        seconds)
{
  GHashTableIter iter;
  gpointer key, value;
  long hz = sysconf (_SC_CLK_TCK);

  details (bench, "  recorder threads (%% of one core over the window):\n");
  g_hash_table_iter_init (&iter, after);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      ThreadTicks *t = value, *t0 = g_hash_table_lookup (before, key), *tp = g_hash_table_lookup (pre, key);
      Share share = classify_thread (t->name);
      double cpu = (double) (t->ticks - (t0 ? t0->ticks : 0)) / hz / seconds;

      if (tp != NULL && g_str_equal (tp->name, t->name) && !is_recorder_only_name (t->name))
        continue;
      rec->share[share] += cpu;
      rec->share_threads[share]++;
      details (bench, "    %-16s tid %-7s %5.1f %%  %s%s\n", t->name, (const char *) key, 100 * cpu,
               share_names[share], tp == NULL ? "" : " (existed before the recording)");
    }
}

static gint64
reply_duration_ms (const char *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (body == NULL || !json_parser_load_from_data (parser, body, -1, NULL))
    return -1;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
      !json_object_has_member (json_node_get_object (root), "duration_ms"))
    return -1;
  return json_object_get_int_member (json_node_get_object (root), "duration_ms");
}

static char *
reply_file (const char *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;
  const char *file;

  if (body == NULL || !json_parser_load_from_data (parser, body, -1, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  file = json_object_get_string_member_with_default (json_node_get_object (root), "file", NULL);
  return file != NULL && strchr (file, '/') == NULL ? g_strdup (file) : NULL;
}

/* Video frames in a recorded MP4 (demuxed only, not decoded) */
static GstPadProbeReturn
count_buffer (GstPad          *pad,
              GstPadProbeInfo *info,
              gpointer         user_data)
{
  (*(guint *) user_data)++;
  return GST_PAD_PROBE_OK;
}

static guint
count_video_frames (const char *path)
{
  g_autoptr(GstElement) pipeline = gst_parse_launch ("filesrc name=src ! qtdemux ! video/x-h264 "
                                                     "! fakesink name=sink sync=false", NULL);
  g_autoptr(GstElement) src = NULL;
  g_autoptr(GstElement) sink = NULL;
  g_autoptr(GstPad) pad = NULL;
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstMessage) message = NULL;
  guint frames = 0;

  if (pipeline == NULL)
    return 0;
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  g_object_set (src, "location", path, NULL);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_buffer, &frames, NULL);
  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  message = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  if (message == NULL || GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
    return 0;
  return frames;
}

/* After the window without recording: start a recording, let it settle,
 * measure a window of the same length, stop it and wait for the file. */
static void
record_window (Bench     *bench,
               RunResult *r)
{
  RecordResult *rec = &r->rec;
  RunResult w = { 0, };
  g_autofree char *room = g_uri_escape_string (bench->opt.room, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/api/rooms/%s/recording", room);
  g_autofree char *body = NULL;
  g_autofree char *file = NULL;
  g_autoptr(GHashTable) pre = NULL;
  g_autoptr(GHashTable) before = NULL;
  g_autoptr(GHashTable) after = NULL;
  g_autoptr(GSubprocess) perf = NULL;
  ProcSample s0, s1, b0, b1;
  LevelSampler sampler;
  long hz = sysconf (_SC_CLK_TCK);
  gint64 post_ns, delete_ns, w0, w1, sys0, sys1;
  double window;
  guint status;
  int self = getpid ();

  pre = proc_threads (bench->server.pid);
  post_ns = now_ns ();
  status = http_request (bench, "POST", path, &body, 10);
  if (status != SOUP_STATUS_CREATED)
    {
      rec->note = g_strdup_printf ("POST recording: %u %s", status, body ? body : "");
      details (bench, "  %s\n", rec->note);
      return;
    }
  details (bench, "  recording started in %.0f ms: %s\n  settling %.0f s\n",
           (now_ns () - post_ns) / 1e6, body, bench->opt.record_settle_s);
  g_clear_pointer (&body, g_free);
  iterate_for (bench->opt.record_settle_s);

  /* the window while recording */
  snapshot_subscriptions (bench);
  for (guint k = 0; k < N_KINDS; k++)
    memset (bench->latency[k], 0, sizeof (Histogram));
  before = proc_threads (bench->server.pid);
  proc_sample (bench->server.pid, &s0);
  proc_sample (self, &b0);
  sys0 = system_busy_ticks ();
  sampler_start (&sampler, bench);
  perf = start_perf (bench, r->n, "-record");
  w0 = g_get_monotonic_time ();
  g_atomic_int_set (&bench->measuring, 1);

  iterate_for (bench->opt.duration_s);

  g_atomic_int_set (&bench->measuring, 0);
  w1 = g_get_monotonic_time ();
  window = (w1 - w0) / 1e6;
  proc_sample (bench->server.pid, &s1);
  proc_sample (self, &b1);
  sys1 = system_busy_ticks ();
  after = proc_threads (bench->server.pid);
  sampler_stop (&sampler, rec);

  rec->server_cpu = (double) (s1.ticks - s0.ticks) / hz / window;
  rec->bench_cpu = (double) (b1.ticks - b0.ticks) / hz / window;
  rec->other_cpu = MAX ((double) (sys1 - sys0) / hz / window - rec->bench_cpu - rec->server_cpu, 0);
  rec->rss_mb = s1.rss_kb / 1024.0;
  rec->threads = s1.threads;

  collect_subscriptions (bench, &w, window);
  rec->fps_min = w.fps_min;
  rec->fps_mean = w.fps_mean;
  rec->video_expected = w.video_expected;
  rec->video_lost = w.video_lost;
  rec->audio_expected = w.audio_expected;
  rec->audio_lost = w.audio_lost;
  for (guint k = 0; k < N_KINDS; k++)
    {
      rec->lat_p50_ms[k] = histogram_percentile_ms (bench->latency[k], 50);
      rec->lat_p99_ms[k] = histogram_percentile_ms (bench->latency[k], 99);
    }

  /* stop, and wait for the file */
  delete_ns = now_ns ();
  status = http_request (bench, "DELETE", path, &body, 30);
  rec->stop_ms = (now_ns () - delete_ns) / 1e6;
  rec->wall_ms = (delete_ns - post_ns) / 1e6;
  if (status != SOUP_STATUS_OK)
    {
      rec->note = g_strdup_printf ("DELETE recording: %u %s", status, body ? body : "");
      details (bench, "  %s\n", rec->note);
    }
  else
    {
      rec->duration_ms = reply_duration_ms (body);
      file = reply_file (body);
      rec->ok = rec->duration_ms >= 0;
      details (bench, "  recording stopped in %.0f ms: %s\n", rec->stop_ms, body);
    }

  details (bench, "  recording window %.1f s: server %.1f %% of a core (%.1f %% before recording), "
           "bench %.1f %%, other processes %.1f %%; fps min %.1f mean %.1f\n",
           window, 100 * rec->server_cpu, 100 * r->server_cpu, 100 * rec->bench_cpu, 100 * rec->other_cpu,
           rec->fps_min, rec->fps_mean);
  details (bench, "  video packets expected %" G_GUINT64_FORMAT ", lost %" G_GUINT64_FORMAT
           "; audio expected %" G_GUINT64_FORMAT ", lost %" G_GUINT64_FORMAT "\n",
           rec->video_expected, rec->video_lost, rec->audio_expected, rec->audio_lost);
  details (bench, "  encoder queues over %u samples: video max %.1f ms, mean %.1f ms, slope %.2f ms/s; "
           "audio max %.1f ms, mean %.1f ms\n", rec->n_levels, rec->vqueue_max_ms, rec->vqueue_mean_ms,
           rec->vqueue_slope, rec->aqueue_max_ms, rec->aqueue_mean_ms);
  details (bench, "  file %" G_GINT64_FORMAT " ms over %.0f ms of wall time (POST sent → DELETE sent)\n",
           rec->duration_ms, rec->wall_ms);
  attribute_recorder_threads (bench, rec, pre, before, after, window);
  report_threads (bench, before, after, window);

  if (file != NULL)
    rec->file_path = g_build_filename (bench->opt.recordings_dir, file, NULL);
  if (perf != NULL)
    g_subprocess_wait (perf, NULL, NULL);
}

/* }}} */

static gboolean
run_once (Bench     *bench,
          guint      n,
          double     loss_percent,
          gboolean   direct,
          RunResult *r)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) threads_before = NULL;
  g_autoptr(GHashTable) threads_after = NULL;
  g_autoptr(GSubprocess) perf = NULL;
  ProcSample idle0, idle1, s0 = { 0, }, s1 = { 0, }, b0, b1;
  long hz = sysconf (_SC_CLK_TCK);
  gint64 t0, t1, w0, w1, sys0, sys1;
  double window;
  int self = getpid ();

  memset (r, 0, sizeof *r);
  r->n = n;
  r->direct = bench->direct = direct;
  r->loss_percent = bench->loss_percent = loss_percent;
  for (guint k = 0; k < N_KINDS; k++)
    memset (bench->latency[k], 0, sizeof (Histogram));
  g_atomic_int_set (&bench->unstamped, 0);

  details (bench, "\n== %s, %u participants, %.1f %% loss ==\n",
           direct ? "direct (no server)" : "through the server", n, loss_percent);

  if (!direct)
    {
      if (!server_start (bench, &error))
        {
          r->note = g_strdup_printf ("server: %s", error->message);
          return FALSE;
        }

      /* the idle server */
      iterate_for (1.0);
      t0 = g_get_monotonic_time ();
      proc_sample (bench->server.pid, &idle0);
      iterate_for (2.0);
      t1 = g_get_monotonic_time ();
      proc_sample (bench->server.pid, &idle1);
      r->idle_cpu = (double) (idle1.ticks - idle0.ticks) / hz / ((t1 - t0) / 1e6);
      r->idle_rss_mb = idle1.rss_kb / 1024.0;
      r->idle_threads = idle1.threads;
      details (bench, "  idle server: pid %d, port %u, %.1f MB RSS, %u threads\n", bench->server.pid,
               bench->server.port, r->idle_rss_mb, r->idle_threads);
    }

  for (guint i = 0; i < n; i++)
    {
      BenchClient *client = bench_client_new (bench, i);

      g_mutex_lock (&bench->clients_lock);
      g_ptr_array_add (bench->clients, client);
      g_mutex_unlock (&bench->clients_lock);
    }

  if (direct)
    {
      BenchClient *a = g_ptr_array_index (bench->clients, 0);
      BenchClient *b = g_ptr_array_index (bench->clients, 1);
      JoinedData d = { n };

      a->offerer = TRUE;
      a->peer = b;
      b->peer = a;
      a->join_sent_ns = b->join_sent_ns = now_ns ();
      direct_offer (a);
      if (!wait_until (bench, mesh_complete, &d, 20))
        r->note = g_strdup ("media did not flow in both directions within 20 s");
    }
  else
    {
      for (guint i = 0; i < n && r->note == NULL; i++)
        {
          BenchClient *client = g_ptr_array_index (bench->clients, i);
          JoinedData d = { i + 1 };

          bench_client_connect (client, bench->server.port);
          if (!wait_until (bench, client_connected, client, 10) || client->ws == NULL)
            {
              r->note = g_strdup_printf ("%s could not connect", client->name);
              break;
            }
          bench_client_send_join (client, bench->opt.room);
          if (i == 0)
            {
              if (!wait_until (bench, first_client_ready, client, 15) || client->failure)
                r->note = g_strdup_printf ("%s did not get connected", client->name);
            }
          else if (!wait_until (bench, mesh_complete, &d, 20))
            {
              r->note = g_strdup_printf ("after %u joins not everyone received everyone within 20 s", i + 1);
            }
        }
    }

  for (guint i = 0; i < bench->clients->len; i++)
    {
      BenchClient *client = g_ptr_array_index (bench->clients, i);

      if (client->failure != NULL && r->note == NULL)
        r->note = g_strdup_printf ("%s: %s", client->name, client->failure);
    }

  collect_joins (bench, r);

  if (r->note != NULL)
    {
      details (bench, "  aborted: %s\n", r->note);
      clients_teardown (bench);
      server_stop (bench);
      return FALSE;
    }

  details (bench, "  all joined; warming up %.0f s\n", bench->opt.warmup_s);
  iterate_for (bench->opt.warmup_s);

  /* the measurement window */
  snapshot_subscriptions (bench);
  if (!direct)
    {
      proc_sample (bench->server.pid, &s0);
      threads_before = proc_threads (bench->server.pid);
      /* with --record, perf records the recording window instead */
      if (!bench->opt.record)
        perf = start_perf (bench, n, loss_percent > 0 ? "-loss" : "");
    }
  proc_sample (self, &b0);
  sys0 = system_busy_ticks ();
  w0 = g_get_monotonic_time ();
  g_atomic_int_set (&bench->measuring, 1);

  iterate_for (bench->opt.duration_s);

  g_atomic_int_set (&bench->measuring, 0);
  w1 = g_get_monotonic_time ();
  window = (w1 - w0) / 1e6;
  proc_sample (self, &b1);
  sys1 = system_busy_ticks ();
  r->bench_cpu = (double) (b1.ticks - b0.ticks) / hz / window;
  if (!direct)
    {
      proc_sample (bench->server.pid, &s1);
      threads_after = proc_threads (bench->server.pid);
      r->server_cpu = (double) (s1.ticks - s0.ticks) / hz / window;
      r->rss_mb = s1.rss_kb / 1024.0;
      r->threads = s1.threads;
    }
  r->other_cpu = MAX ((double) (sys1 - sys0) / hz / window - r->bench_cpu - r->server_cpu, 0);

  collect_subscriptions (bench, r, window);
  r->expected_subs = n * (n - 1);
  for (guint k = 0; k < N_KINDS; k++)
    {
      r->lat_count[k] = histogram_count (bench->latency[k]);
      r->lat_p50_ms[k] = histogram_percentile_ms (bench->latency[k], 50);
      r->lat_p99_ms[k] = histogram_percentile_ms (bench->latency[k], 99);
      r->lat_max_ms[k] = bench->latency[k]->max_ns / 1e6;
    }
  r->unstamped = (guint) g_atomic_int_get (&bench->unstamped);
  for (guint i = 0; i < bench->clients->len; i++)
    {
      BenchClient *client = g_ptr_array_index (bench->clients, i);

      r->keyframe_requests += g_atomic_int_get (&client->n_keyframe_requests);
      g_mutex_lock (&client->loss_lock);
      r->rtp_out += client->rtp_out;
      r->rtp_dropped += client->rtp_dropped;
      g_mutex_unlock (&client->loss_lock);
    }
  r->ok = TRUE;

  details (bench, "  window %.1f s: server %.1f %% of a core, bench %.1f %%, other processes %.1f %%; fps min %.1f mean %.1f "
           "over %u video subscriptions\n", window, 100 * r->server_cpu, 100 * r->bench_cpu,
           100 * r->other_cpu, r->fps_min, r->fps_mean, r->n_video_subs);
  details (bench, "  video packets expected %" G_GUINT64_FORMAT ", lost %" G_GUINT64_FORMAT
           "; audio expected %" G_GUINT64_FORMAT ", lost %" G_GUINT64_FORMAT "\n",
           r->video_expected, r->video_lost, r->audio_expected, r->audio_lost);
  /* The tail in more detail: with loss injected, about 1 % of the packets
   * are retransmissions, so the p99 sits on their edge */
  for (guint k = 0; k < N_KINDS; k++)
    details (bench, "  %s latency: %" G_GUINT64_FORMAT " packets, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, "
             "p99.5 %.2f ms, p99.9 %.2f ms, max %.1f ms\n",
             kind_names[k], r->lat_count[k], r->lat_p50_ms[k],
             histogram_percentile_ms (bench->latency[k], 90), r->lat_p99_ms[k],
             histogram_percentile_ms (bench->latency[k], 99.5),
             histogram_percentile_ms (bench->latency[k], 99.9), r->lat_max_ms[k]);
  details (bench, "  keyframe requests answered by the publishers (whole run): %u; "
           "RTP sent %" G_GUINT64_FORMAT ", dropped on purpose %" G_GUINT64_FORMAT "; packets without "
           "the bench's header extension %" G_GUINT64_FORMAT "\n", r->keyframe_requests, r->rtp_out,
           r->rtp_dropped, r->unstamped);
  if (!direct)
    {
      details (bench, "  server: %.1f MB RSS, %u threads\n", r->rss_mb, r->threads);
      report_threads (bench, threads_before, threads_after, window);
    }

  if (perf != NULL)
    g_subprocess_wait (perf, NULL, NULL);

  if (bench->opt.record && !direct)
    record_window (bench, r);

  clients_teardown (bench);
  server_stop (bench);

  if (r->rec.file_path != NULL)
    {
      g_autofree char *sidecar = g_strconcat (r->rec.file_path, ".json", NULL);

      /* read it back once nothing else runs; then it goes */
      r->rec.frames = count_video_frames (r->rec.file_path);
      details (bench, "  %s: %u video frames, %.2f fps over its duration\n", r->rec.file_path,
               r->rec.frames, r->rec.duration_ms > 0 ? r->rec.frames * 1000.0 / r->rec.duration_ms : 0);
      if (bench->temp_recordings_dir)
        {
          g_unlink (r->rec.file_path);
          g_unlink (sidecar);
        }
    }
  return TRUE;
}

/* }}} */

/* Output {{{ */

static void print_row (const RunResult *r);
static void print_record_header (void);
static void print_record_row (const RunResult *r);

static RunResult *
run_and_print (Bench    *bench,
               guint     n,
               double    loss_percent,
               gboolean  direct)
{
  RunResult r;

  run_once (bench, n, loss_percent, direct, &r);
  g_array_append_val (bench->results, r);
  if (bench->opt.record && !direct)
    print_record_row (&r);
  else
    print_row (&r);
  return &g_array_index (bench->results, RunResult, bench->results->len - 1);
}

static void
print_header (Bench *bench,
              int    argc,
              char **argv)
{
  g_autofree char *rev = git_revision ();
  g_autofree char *cpu = cpu_model ();
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *date = g_date_time_format (now, "%Y-%m-%d %H:%M %Z");
  g_autoptr(GString) command = g_string_new (NULL);

  for (int i = 0; i < argc; i++)
    {
      g_autofree char *quoted = g_shell_quote (argv[i]);

      g_string_append_printf (command, "%s%s", i ? " " : "", quoted);
    }

  printf ("Kaigi %s benchmark, %s\n\n", bench->opt.record ? "recording" : "forwarding", date);
  printf ("- revision: %s\n", rev);
  printf ("- CPU: %s, %ld cores online\n", cpu, sysconf (_SC_NPROCESSORS_ONLN));
  printf ("- GStreamer: %s\n", gst_version_string ());
  printf ("- command: `%s`\n", command->str);
  printf ("- each participant publishes 640x360 VP8 at %d fps (%.0f kbit/s, keyframe every %u frames) "
          "and Opus 20 ms (%.0f kbit/s), subscribes to everyone else; client jitterbuffer latency %d ms\n",
          VIDEO_FPS,
          bench->media.bytes[KIND_VIDEO] * 8.0 / (bench->media.frames[KIND_VIDEO]->len / (double) VIDEO_FPS) / 1000,
          bench->media.frames[KIND_VIDEO]->len / bench->media.n_keyframes,
          bench->media.bytes[KIND_AUDIO] * 8.0 / (bench->media.frames[KIND_AUDIO]->len * 0.02) / 1000,
          bench->opt.latency_ms);
  printf ("- warm-up %.0f s, measurement window %.0f s%s\n", bench->opt.warmup_s, bench->opt.duration_s,
          bench->opt.pin ? "; server pinned to CPU 0, clients to CPU 1" : "");
  if (bench->opt.record)
    {
      printf ("- per N: a window without recording, then POST recording, %.0f s to settle, a window "
              "of the same length while recording, DELETE recording\n\n", bench->opt.record_settle_s);
      print_record_header ();
      return;
    }
  printf ("\n");
  fputs ("| N | video streams | loss in | server CPU % | CPU %/stream | RSS MB (+/part.) "
         "| threads (+/part.) | join p50/p95 ms | fps min/mean | lost video/audio % "
         "| latency video p50/p99 ms | latency audio p50/p99 ms | bench CPU % | other CPU % |\n", stdout);
  printf ("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  fflush (stdout);
}

static char *
format_ms (double ms)
{
  if (isnan (ms))
    return g_strdup ("—");
  if (ms > HIST_BINS * (double) HIST_BIN_NS / GST_MSECOND)
    return g_strdup ("> 1000");
  return g_strdup_printf ("%.2f", ms);
}

static void
print_row (const RunResult *r)
{
  g_autofree char *v50 = format_ms (r->lat_p50_ms[KIND_VIDEO]);
  g_autofree char *v99 = format_ms (r->lat_p99_ms[KIND_VIDEO]);
  g_autofree char *a50 = format_ms (r->lat_p50_ms[KIND_AUDIO]);
  g_autofree char *a99 = format_ms (r->lat_p99_ms[KIND_AUDIO]);
  g_autofree char *label = r->direct ? g_strdup_printf ("%u direct", r->n) : g_strdup_printf ("%u", r->n);
  guint streams = r->n * (r->n - 1);

  if (!r->ok)
    {
      printf ("| %s | %u | %.0f %% | failed: %s | | | | | | | | | | |\n", label, streams, r->loss_percent,
              r->note ? r->note : "?");
      fflush (stdout);
      return;
    }

  printf ("| %s | %u | %.0f %% ", label, streams, r->loss_percent);
  if (r->direct)
    printf ("| — | — | — | — ");
  else
    printf ("| %.1f | %.3f | %.1f (+%.2f) | %u (+%.1f) ",
            100 * r->server_cpu, 100 * (r->server_cpu - r->idle_cpu) / streams,
            r->rss_mb, (r->rss_mb - r->idle_rss_mb) / r->n,
            r->threads, ((double) r->threads - r->idle_threads) / r->n);
  if (r->n_joins > 0 && !r->direct)
    printf ("| %.0f / %.0f%s ", r->join_p50_ms, r->join_p95_ms, r->n_join_missing ? " (some missing)" : "");
  else
    printf ("| — ");
  printf ("| %.1f / %.1f | %.2f / %.2f | %s / %s | %s / %s | %.0f | %.0f |\n",
          r->fps_min, r->fps_mean,
          r->video_expected ? 100.0 * r->video_lost / r->video_expected : 0,
          r->audio_expected ? 100.0 * r->audio_lost / r->audio_expected : 0,
          v50, v99, a50, a99,
          100 * r->bench_cpu, 100 * r->other_cpu);
  fflush (stdout);
}

static void
print_record_header (void)
{
  fputs ("| N | server CPU % without / with recording | recorder CPU % | decode | compose "
         "| encode video / audio / mux | sources / other / rest | file s / wall s | frames in file "
         "| stop ms | video queue max / mean ms, slope ms/s | audio queue max ms "
         "| fps min/mean while recording | lost video/audio % while recording "
         "| latency video p50/p99 ms while recording | RSS MB / threads without → with "
         "| bench CPU % | other CPU % |\n", stdout);
  printf ("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  fflush (stdout);
}

static void
print_record_row (const RunResult *r)
{
  const RecordResult *rec = &r->rec;
  double recorder, rest;
  g_autofree char *v50 = format_ms (rec->lat_p50_ms[KIND_VIDEO]);
  g_autofree char *v99 = format_ms (rec->lat_p99_ms[KIND_VIDEO]);

  if (!r->ok || !rec->ok)
    {
      printf ("| %u | failed: %s | | | | | | | | | | | | | | | | |\n", r->n,
              !r->ok ? (r->note ? r->note : "?") : (rec->note ? rec->note : "no duration in the reply"));
      fflush (stdout);
      return;
    }

  recorder = rec->server_cpu - r->server_cpu;
  rest = recorder;
  for (guint i = 0; i < N_SHARES; i++)
    rest -= rec->share[i];

  printf ("| %u | %.1f / %.1f | %.1f | %.1f | %.1f | %.1f / %.1f / %.1f | %.1f / %.1f / %.1f ",
          r->n, 100 * r->server_cpu, 100 * rec->server_cpu, 100 * recorder,
          100 * rec->share[SHARE_DECODE], 100 * rec->share[SHARE_COMPOSE],
          100 * rec->share[SHARE_ENCODE_VIDEO], 100 * rec->share[SHARE_ENCODE_AUDIO], 100 * rec->share[SHARE_MUX],
          100 * rec->share[SHARE_SOURCES], 100 * rec->share[SHARE_OTHER], 100 * rest);
  printf ("| %.2f / %.2f (%+.1f %%) | %u (%.2f fps) | %.0f | %.0f / %.0f, %+.2f | %.0f ",
          rec->duration_ms / 1000.0, rec->wall_ms / 1000.0,
          rec->wall_ms > 0 ? 100.0 * (rec->duration_ms - rec->wall_ms) / rec->wall_ms : 0,
          rec->frames, rec->duration_ms > 0 ? rec->frames * 1000.0 / rec->duration_ms : 0,
          rec->stop_ms, rec->vqueue_max_ms, rec->vqueue_mean_ms, rec->vqueue_slope, rec->aqueue_max_ms);
  printf ("| %.1f / %.1f | %.2f / %.2f | %s / %s | %.1f / %u → %.1f / %u | %.0f | %.0f |\n",
          rec->fps_min, rec->fps_mean,
          rec->video_expected ? 100.0 * rec->video_lost / rec->video_expected : 0,
          rec->audio_expected ? 100.0 * rec->audio_lost / rec->audio_expected : 0,
          v50, v99, r->rss_mb, r->threads, rec->rss_mb, rec->threads,
          100 * rec->bench_cpu, 100 * rec->other_cpu);
  fflush (stdout);
}

/* Least-squares slope of what @value reads from each run without loss
 * over what @x reads; NAN with fewer than two such runs */
static double
series_slope (Bench  *bench,
              double (*x) (const RunResult *r),
              double (*value) (const RunResult *r),
              guint  *n_runs)
{
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  guint n = 0;

  for (guint i = 0; i < bench->results->len; i++)
    {
      RunResult *r = &g_array_index (bench->results, RunResult, i);

      if (!r->ok || r->direct || r->loss_percent > 0)
        continue;
      sx += x (r);
      sy += value (r);
      sxx += x (r) * x (r);
      sxy += x (r) * value (r);
      n++;
    }
  *n_runs = n;
  if (n < 2 || n * sxx - sx * sx == 0)
    return NAN;
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

static double run_streams (const RunResult *r) { return r->n * (r->n - 1.0); }
static double run_participants (const RunResult *r) { return r->n; }
static double run_cpu_percent (const RunResult *r) { return 100 * r->server_cpu; }
static double run_rss_mb (const RunResult *r) { return r->rss_mb; }
static double run_threads (const RunResult *r) { return r->threads; }

/* The cost of one more forwarded stream or participant, as the slope
 * over the series: the table's "+/part." divides by N everything above
 * the idle server, including what the first room loads once (webrtcbin's
 * plugins and libraries: libnice, OpenSSL, libsrtp, usrsctp) */
static void
print_slopes (Bench *bench)
{
  double cpu, rss, threads;
  guint n;

  cpu = series_slope (bench, run_streams, run_cpu_percent, &n);
  if (isnan (cpu))
    return;
  rss = series_slope (bench, run_participants, run_rss_mb, &n);
  threads = series_slope (bench, run_participants, run_threads, &n);
  printf ("\nSlopes over the %u runs without loss (least squares): server CPU %.3f %% of one core "
          "per forwarded video stream; RSS %.2f MB and %.1f threads per participant.\n",
          n, cpu, rss, threads);
  fflush (stdout);
}

/* }}} */

int
main (int    argc,
      char **argv)
{
  Bench bench_storage = { 0, };
  Bench *bench = &bench_storage;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) counts = NULL;
  g_autofree char *exe = NULL;
  g_auto(GStrv) command_argv = NULL;
  int status = 0;
  GOptionEntry entries[] = {
    { "server", 's', 0, G_OPTION_ARG_FILENAME, &bench->opt.server_path,
      "The kaigi executable (default: $KAIGI_BENCH_SERVER, else ../src/kaigi next to this program)", "PATH" },
    { "server-args", 0, 0, G_OPTION_ARG_STRING, &bench->opt.server_args,
      "Extra arguments for the server (shell syntax)", "ARGS" },
    { "server-log", 0, 0, G_OPTION_ARG_FILENAME, &bench->opt.server_log,
      "Write the server's stderr here (default: discard)", "FILE" },
    { "participants", 'n', 0, G_OPTION_ARG_STRING, &bench->opt.participants,
      "Comma-separated room sizes to run, in order (default 2,4,6,8)", "LIST" },
    { "stop-below-fps", 0, 0, G_OPTION_ARG_DOUBLE, &bench->opt.stop_below_fps,
      "Skip the larger sizes once a subscription falls below this frame rate (default 25)", "FPS" },
    { "warmup", 'w', 0, G_OPTION_ARG_DOUBLE, &bench->opt.warmup_s,
      "Seconds between the last join and the window (default 10)", "S" },
    { "duration", 'd', 0, G_OPTION_ARG_DOUBLE, &bench->opt.duration_s,
      "Seconds of the measurement window (default 20)", "S" },
    { "loss", 'l', 0, G_OPTION_ARG_DOUBLE, &bench->opt.loss_percent,
      "Drop this percentage of every client's outgoing RTP packets (default 0)", "PERCENT" },
    { "direct", 0, 0, G_OPTION_ARG_NONE, &bench->opt.direct,
      "Only the baseline without the server: two clients webrtcbin to webrtcbin", NULL },
    { "loss-run", 0, 0, G_OPTION_ARG_DOUBLE, &bench->opt.loss_run,
      "After the series, one more run with this loss at the largest size that kept 29 fps", "PERCENT" },
    { "baseline", 0, 0, G_OPTION_ARG_NONE, &bench->opt.baseline,
      "Finally run the --direct baseline (and with the --loss-run loss)", NULL },
    { "latency", 0, 0, G_OPTION_ARG_INT, &bench->opt.latency_ms,
      "Client webrtcbin jitterbuffer latency in ms (default 50)", "MS" },
    { "video-kbps", 0, 0, G_OPTION_ARG_INT, &bench->opt.video_kbps,
      "Target bit rate of the pre-encoded VP8 (default 600)", "KBPS" },
    { "ice-address", 0, 0, G_OPTION_ARG_STRING_ARRAY, &bench->opt.ice_addresses,
      "Local address for the clients' ICE (repeatable; default: every address libnice finds)", "ADDR" },
    { "room", 0, 0, G_OPTION_ARG_STRING, &bench->opt.room, "Room name (default ベンチ)", "NAME" },
    { "header", 0, 0, G_OPTION_ARG_NONE, &bench->opt.header,
      "Print the header (machine, revision, table head) before the rows", NULL },
    { "details", 0, 0, G_OPTION_ARG_FILENAME, &bench->opt.details_path,
      "Append the per-run details (per-thread server CPU, …) to this file", "FILE" },
    { "perf", 0, 0, G_OPTION_ARG_FILENAME, &bench->opt.perf_path,
      "Record the server with `perf record -g` during each window into PREFIX-N.data", "PREFIX" },
    { "pin", 0, 0, G_OPTION_ARG_NONE, &bench->opt.pin,
      "Run the server on CPU 0 and the clients on CPU 1 (other processes are not moved)", NULL },
    { "record", 0, 0, G_OPTION_ARG_NONE, &bench->opt.record,
      "Recording mode: after each window, record the room for another window (see bench/README.md)", NULL },
    { "record-settle", 0, 0, G_OPTION_ARG_DOUBLE, &bench->opt.record_settle_s,
      "--record: seconds between starting the recording and its window (default 3)", "S" },
    { "recordings-dir", 0, 0, G_OPTION_ARG_FILENAME, &bench->opt.recordings_dir,
      "--record: the server's recordings folder, kept (default: a new temporary folder, removed after)", "DIR" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &bench->opt.quiet, "No progress on stderr", NULL },
    { NULL }
  };

  bench->opt.warmup_s = 10;
  bench->opt.duration_s = 20;
  bench->opt.stop_below_fps = 25;
  bench->opt.latency_ms = 50;
  bench->opt.video_kbps = 600;
  bench->opt.record_settle_s = 3;

  context = g_option_context_new ("— Kaigi forwarding benchmark");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_group (context, gst_init_get_option_group ());
  /* the header quotes the command as given, before parsing strips it */
  command_argv = g_strdupv (argv);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("kaigi-bench: %s\n", error->message);
      return 2;
    }

  GST_DEBUG_CATEGORY_INIT (kaigi_bench_debug, "kaigi-bench", 0, "Kaigi forwarding benchmark");

  /* before any streaming thread exists: they inherit the affinity */
  if (bench->opt.pin && !pin_to_cpu (1))
    g_printerr ("kaigi-bench: cannot pin to CPU 1: %s\n", g_strerror (errno));

  exe = g_file_read_link ("/proc/self/exe", NULL);
  bench->exe_dir = exe ? g_path_get_dirname (exe) : g_strdup (".");
  if (bench->opt.server_path == NULL)
    bench->opt.server_path = default_server_path (bench);
  if (bench->opt.room == NULL)
    bench->opt.room = g_strdup ("ベンチ");
  if (bench->opt.participants == NULL)
    bench->opt.participants = g_strdup ("2,4,6,8");

  if (!bench->opt.direct && !g_file_test (bench->opt.server_path, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_printerr ("kaigi-bench: no server at %s (use --server)\n", bench->opt.server_path);
      return 2;
    }

  if (bench->opt.record && bench->opt.recordings_dir == NULL)
    {
      bench->opt.recordings_dir = g_dir_make_tmp ("kaigi-bench-XXXXXX", &error);
      if (bench->opt.recordings_dir == NULL)
        {
          g_printerr ("kaigi-bench: %s\n", error->message);
          return 1;
        }
      bench->temp_recordings_dir = TRUE;
    }

  g_mutex_init (&bench->clients_lock);
  bench->clients = g_ptr_array_new ();
  bench->results = g_array_new (FALSE, TRUE, sizeof (RunResult));
  bench->details = g_string_new (NULL);
  for (guint k = 0; k < N_KINDS; k++)
    bench->latency[k] = g_new0 (Histogram, 1);
  bench->session = soup_session_new_with_options ("max-conns", 256, "max-conns-per-host", 256, NULL);

  g_timeout_add (20, on_tick, NULL);
  g_unix_signal_add (SIGINT, on_interrupt, NULL);
  g_unix_signal_add (SIGTERM, on_interrupt, NULL);

  if (!encode_media (bench, &error))
    {
      g_printerr ("kaigi-bench: cannot pre-encode the media: %s\n", error->message);
      return 1;
    }

  if (bench->opt.header)
    print_header (bench, (int) g_strv_length (command_argv), command_argv);

  g_atomic_int_set (&bench->pacer_running, 1);
  bench->pacer = g_thread_new ("bench-pacer", pacer_thread, bench);

  if (bench->opt.direct)
    {
      run_and_print (bench, 2, bench->opt.loss_percent, TRUE);
    }
  else
    {
      guint best = 0;

      counts = g_strsplit (bench->opt.participants, ",", -1);
      for (guint i = 0; counts[i] != NULL && !interrupted; i++)
        {
          guint n = (guint) g_ascii_strtoull (counts[i], NULL, 10);
          RunResult *r;

          if (n < 2 || n > MAX_CLIENTS)
            {
              g_printerr ("kaigi-bench: cannot run %s participants\n", counts[i]);
              status = 2;
              continue;
            }

          r = run_and_print (bench, n, bench->opt.loss_percent, FALSE);
          if (r->ok && r->fps_min >= 29 && n > best)
            best = n;
          if (!r->ok || r->fps_min < bench->opt.stop_below_fps)
            {
              details (bench, "  stopping the series: %s\n",
                       r->ok ? "a subscription fell below the frame rate limit" : "the run failed");
              break;
            }
        }

      if (bench->opt.loss_run > 0 && !interrupted)
        run_and_print (bench, best ? best : 4, bench->opt.loss_run, FALSE);
      if (bench->opt.baseline && !interrupted)
        {
          run_and_print (bench, 2, 0, TRUE);
          if (bench->opt.loss_run > 0 && !interrupted)
            run_and_print (bench, 2, bench->opt.loss_run, TRUE);
        }
    }

  for (guint i = 0; i < bench->results->len; i++)
    {
      RunResult *r = &g_array_index (bench->results, RunResult, i);

      if (!r->ok || (bench->opt.record && !r->direct && !r->rec.ok))
        status = 1;
    }

  if (!bench->opt.record)
    print_slopes (bench);
  if (bench->temp_recordings_dir)
    g_rmdir (bench->opt.recordings_dir);

  g_atomic_int_set (&bench->pacer_running, 0);
  g_thread_join (bench->pacer);

  if (bench->opt.details_path != NULL)
    {
      g_autoptr(GFile) file = g_file_new_for_path (bench->opt.details_path);
      g_autoptr(GFileOutputStream) out = g_file_append_to (file, G_FILE_CREATE_NONE, NULL, &error);

      if (out == NULL ||
          !g_output_stream_write_all (G_OUTPUT_STREAM (out), bench->details->str, bench->details->len,
                                      NULL, NULL, &error))
        g_printerr ("kaigi-bench: %s: %s\n", bench->opt.details_path, error->message);
    }

  return interrupted ? 130 : status;
}
