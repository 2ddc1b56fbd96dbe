/* test-locale.c — where the installed program finds its message catalogues
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "kaigi-locale.h"

/* A copy of the installed tree: ROOT/BINDIR/kaigi, and ROOT/LOCALEDIR when
 * @with_locale_dir (both relative to the configured prefix) */
typedef struct
{
  char *root;
  char *executable;
  char *locale_dir;
} Tree;

static void
tree_setup (Tree          *tree,
            gconstpointer  data)
{
  gboolean with_locale_dir = GPOINTER_TO_INT (data);
  g_autoptr(GError) error = NULL;
  g_autofree char *bindir = NULL;

  tree->root = g_dir_make_tmp ("kaigi-locale-XXXXXX", &error);
  g_assert_no_error (error);
  bindir = g_build_filename (tree->root, KAIGI_BINDIR + strlen (KAIGI_PREFIX), NULL);
  g_assert_cmpint (g_mkdir_with_parents (bindir, 0700), ==, 0);
  tree->executable = g_build_filename (bindir, "kaigi", NULL);
  tree->locale_dir = g_build_filename (tree->root, LOCALEDIR + strlen (KAIGI_PREFIX), NULL);
  if (with_locale_dir)
    g_assert_cmpint (g_mkdir_with_parents (tree->locale_dir, 0700), ==, 0);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      remove_tree (child);
    }
  g_remove (path);
}

static void
tree_teardown (Tree          *tree,
               gconstpointer  data)
{
  remove_tree (tree->root);
  g_free (tree->root);
  g_free (tree->executable);
  g_free (tree->locale_dir);
}

static void
test_copied_tree (Tree          *tree,
                  gconstpointer  data)
{
  g_autofree char *dir = kaigi_locale_dir_for_executable (tree->executable);

  g_assert_cmpstr (dir, ==, tree->locale_dir);
}

static void
test_copied_tree_without_catalogues (Tree          *tree,
                                     gconstpointer  data)
{
  g_autofree char *dir = kaigi_locale_dir_for_executable (tree->executable);

  g_assert_cmpstr (dir, ==, LOCALEDIR);
}

static void
test_configured_places (void)
{
  g_autofree char *installed = g_build_filename (KAIGI_BINDIR, "kaigi", NULL);
  const char *executables[] = { installed, "/nonexistent/src/kaigi", "kaigi", NULL };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (executables); i++)
    {
      g_autofree char *dir = kaigi_locale_dir_for_executable (executables[i]);

      g_assert_cmpstr (dir, ==, LOCALEDIR);
    }
}

static void
test_running_program (void)
{
  g_autofree char *dir = kaigi_locale_dir ();

  /* This test program lives in the build tree, not in a bindir */
  g_assert_cmpstr (dir, ==, LOCALEDIR);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/locale/copied-tree", Tree, GINT_TO_POINTER (TRUE),
              tree_setup, test_copied_tree, tree_teardown);
  g_test_add ("/locale/copied-tree-without-catalogues", Tree, GINT_TO_POINTER (FALSE),
              tree_setup, test_copied_tree_without_catalogues, tree_teardown);
  g_test_add_func ("/locale/configured-places", test_configured_places);
  g_test_add_func ("/locale/running-program", test_running_program);

  return g_test_run ();
}
