-- include/people.sql: the users and tenants the tenancy, ACL and tenant
-- tests share (see tests/regress/run): alice, bob and carol in auth.users
-- (ids a0000000-…-00000000000a, b0…0b, c0…0c) and tenants A
-- (aaaaaaaa-…) and B (bbbbbbbb-…), with no members: each test says who
-- belongs where.
INSERT INTO auth.users (id, email) VALUES
  ('a0000000-0000-0000-0000-00000000000a', 'alice@example.com'),
  ('b0000000-0000-0000-0000-00000000000b', 'bob@example.com'),
  ('c0000000-0000-0000-0000-00000000000c', 'carol@example.com');
INSERT INTO kiln.tenants (id, name) VALUES
  ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'A'),
  ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'B');
