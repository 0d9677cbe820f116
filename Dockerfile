# Builds the service jar and runs it on a JRE. Routes are read from /app/routes (mount your own over it).
FROM eclipse-temurin:17-jdk AS build
WORKDIR /src
COPY .mvn .mvn
COPY mvnw pom.xml ./
RUN ./mvnw -B -q dependency:go-offline
COPY src src
RUN ./mvnw -B -q -DskipTests package && cp target/calsync-*.jar /src/calsync.jar

FROM eclipse-temurin:17-jre
RUN useradd --system --uid 10001 calsync
WORKDIR /app
COPY --from=build /src/calsync.jar /app/calsync.jar
COPY routes /app/routes
USER calsync
EXPOSE 8080
ENTRYPOINT ["java", "-jar", "/app/calsync.jar"]
